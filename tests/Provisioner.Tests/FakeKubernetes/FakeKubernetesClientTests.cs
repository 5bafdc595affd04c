using System.Net;
using System.Net.Sockets;
using System.Text;
using k8s;
using k8s.Autorest;
using k8s.LeaderElection;
using k8s.LeaderElection.ResourceLock;
using k8s.Models;
using Provisioner.FakeKubernetes;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.FakeKubernetes;

/// <summary>The real KubernetesClient against the fake: the behaviours the approver relies on.</summary>
[Trait(Category.Name, Category.Integration)]
public sealed class FakeKubernetesClientTests : IAsyncLifetime
{
    private FakeKubernetesApi fake = null!;
    private Kubernetes admin = null!;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        fake = await FakeKubernetesApi.StartAsync(new FakeKubernetesOptions { BookmarkInterval = TimeSpan.FromMilliseconds(100) }, Ct);
        fake.AddUser("admin", "kubernetes-admin", "system:masters");
        admin = Client("admin");
    }

    public async ValueTask DisposeAsync()
    {
        admin.Dispose();
        await fake.DisposeAsync();
    }

    private Kubernetes Client(string token) =>
        new(new KubernetesClientConfiguration { Host = fake.BaseAddress.GetLeftPart(UriPartial.Authority), AccessToken = token });

    private static V1CertificateSigningRequest NewCsr(string? name = null) => new()
    {
        Metadata = new V1ObjectMeta { Name = name, GenerateName = name is null ? "csr-" : null },
        Spec = new V1CertificateSigningRequestSpec
        {
            Request = Encoding.ASCII.GetBytes("-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n"),
            SignerName = "kubernetes.io/kube-apiserver-client-kubelet",
            Usages = ["digital signature", "client auth"],
        },
    };

    [Fact]
    public async Task Created_csr_records_the_authenticated_requester_not_what_the_client_claims()
    {
        fake.AddUser("node", "system:node:worker-0", "system:nodes");
        using var node = Client("node");
        var csr = NewCsr();
        csr.Spec.Username = "system:admin";
        var created = await node.CertificatesV1.CreateCertificateSigningRequestAsync(csr, cancellationToken: Ct);

        Assert.StartsWith("csr-", created.Metadata.Name);
        Assert.Equal("system:node:worker-0", created.Spec.Username);
        Assert.Equal(["system:nodes", "system:authenticated"], created.Spec.Groups);
    }

    [Fact]
    public async Task Bootstrap_token_authenticates_only_while_its_secret_exists()
    {
        using var joining = Client("abcdef.0123456789abcdef");
        var unauthenticated = await Assert.ThrowsAsync<HttpOperationException>(() => joining.CertificatesV1.CreateCertificateSigningRequestAsync(NewCsr(), cancellationToken: Ct));
        Assert.Equal(HttpStatusCode.Unauthorized, unauthenticated.Response.StatusCode);

        await admin.CoreV1.CreateNamespacedSecretAsync(new V1Secret
        {
            Metadata = new V1ObjectMeta { Name = "bootstrap-token-abcdef" },
            Type = "bootstrap.kubernetes.io/token",
            StringData = new Dictionary<string, string>
            {
                ["token-id"] = "abcdef", ["token-secret"] = "0123456789abcdef", ["usage-bootstrap-authentication"] = "true",
                ["auth-extra-groups"] = "system:bootstrappers:provisioner",
            },
        }, "kube-system", cancellationToken: Ct);
        var created = await joining.CertificatesV1.CreateCertificateSigningRequestAsync(NewCsr(), cancellationToken: Ct);

        Assert.Equal("system:bootstrap:abcdef", created.Spec.Username);
        Assert.Contains("system:bootstrappers", created.Spec.Groups);
        Assert.Contains("system:bootstrappers:provisioner", created.Spec.Groups);
    }

    [Fact]
    public async Task Watch_from_the_list_resourceVersion_sees_later_changes_and_bookmarks()
    {
        await admin.CertificatesV1.CreateCertificateSigningRequestAsync(NewCsr("before"), cancellationToken: Ct);
        var list = await admin.CertificatesV1.ListCertificateSigningRequestAsync(cancellationToken: Ct);
        Assert.Equal(["before"], list.Items.Select(i => i.Metadata.Name));

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cts.CancelAfter(TimeSpan.FromSeconds(10));
        var seen = new List<(WatchEventType, string)>();
        var created = false;
        await foreach (var (type, csr) in admin.CertificatesV1.WatchListCertificateSigningRequestAsync(
                           resourceVersion: list.Metadata.ResourceVersion, allowWatchBookmarks: true, cancellationToken: cts.Token))
        {
            seen.Add((type, csr.Metadata.Name ?? ""));
            if (!created)
            {
                created = true;
                await admin.CertificatesV1.CreateCertificateSigningRequestAsync(NewCsr("after"), cancellationToken: Ct);
            }
            if (seen.Any(s => s.Item1 == WatchEventType.Added) && seen.Any(s => s.Item1 == WatchEventType.Bookmark)) break;
        }
        Assert.Contains((WatchEventType.Added, "after"), seen);
        Assert.DoesNotContain(seen, s => s.Item2 == "before");
    }

    [Fact]
    public async Task Watch_from_a_compacted_resourceVersion_reports_410_to_the_client()
    {
        var first = await admin.CertificatesV1.CreateCertificateSigningRequestAsync(NewCsr("one"), cancellationToken: Ct);
        await admin.CertificatesV1.CreateCertificateSigningRequestAsync(NewCsr("two"), cancellationToken: Ct);
        fake.CompactHistory();

        var errors = new List<Exception>();
        await foreach (var _ in admin.CertificatesV1.WatchListCertificateSigningRequestAsync(
                           resourceVersion: first.Metadata.ResourceVersion, onError: errors.Add, cancellationToken: Ct))
            Assert.Fail("no event was expected");

        var gone = Assert.IsType<KubernetesException>(Assert.Single(errors));
        Assert.Equal(410, gone.Status.Code);
    }

    [Fact]
    public async Task Dropped_watch_ends_the_clients_stream_after_the_events_it_delivered()
    {
        var list = await admin.CertificatesV1.ListCertificateSigningRequestAsync(cancellationToken: Ct);
        var received = new TaskCompletionSource<string>();
        var watching = Task.Run(async () =>
        {
            await foreach (var (_, csr) in admin.CertificatesV1.WatchListCertificateSigningRequestAsync(resourceVersion: list.Metadata.ResourceVersion, cancellationToken: Ct))
                received.TrySetResult(csr.Metadata.Name);
        }, Ct);
        await Eventually.That(() => fake.OpenWatches > 0, "the watch to open");
        await admin.CertificatesV1.CreateCertificateSigningRequestAsync(NewCsr("x"), cancellationToken: Ct);
        Assert.Equal("x", await received.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct));

        Assert.Equal(1, fake.DropWatches());
        await watching.WaitAsync(TimeSpan.FromSeconds(10), Ct);
    }

    [Fact]
    public async Task Approval_with_a_stale_resourceVersion_is_a_409_and_a_fresh_read_succeeds()
    {
        var csr = await admin.CertificatesV1.CreateCertificateSigningRequestAsync(NewCsr("c"), cancellationToken: Ct);
        fake.InterveneBeforeNextUpdate("certificatesigningrequests");
        csr.Status = new V1CertificateSigningRequestStatus { Conditions = [new V1CertificateSigningRequestCondition { Type = "Approved", Status = "True", Reason = "Test" }] };

        var conflict = await Assert.ThrowsAsync<HttpOperationException>(() => admin.CertificatesV1.ReplaceCertificateSigningRequestApprovalAsync(csr, "c", cancellationToken: Ct));
        Assert.Equal(HttpStatusCode.Conflict, conflict.Response.StatusCode);

        var fresh = await admin.CertificatesV1.ReadCertificateSigningRequestAsync("c", cancellationToken: Ct);
        fresh.Status = csr.Status;
        var approved = await admin.CertificatesV1.ReplaceCertificateSigningRequestApprovalAsync(fresh, "c", cancellationToken: Ct);
        Assert.Equal("Approved", Assert.Single(approved.Status.Conditions).Type);
        Assert.Equal(["c"], fake.ApprovalWrites.Select(w => w.CsrName));
    }

    [Fact]
    public async Task Approved_and_Denied_together_are_rejected_as_invalid()
    {
        var csr = await admin.CertificatesV1.CreateCertificateSigningRequestAsync(NewCsr("both"), cancellationToken: Ct);
        csr.Status = new V1CertificateSigningRequestStatus
        {
            Conditions = [new() { Type = "Approved", Status = "True" }, new() { Type = "Denied", Status = "True" }],
        };
        var invalid = await Assert.ThrowsAsync<HttpOperationException>(() => admin.CertificatesV1.ReplaceCertificateSigningRequestApprovalAsync(csr, "both", cancellationToken: Ct));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, invalid.Response.StatusCode);
    }

    [Fact]
    public async Task Secrets_are_listed_by_label_and_deleted()
    {
        foreach (var (name, label) in new[] { ("a", "worker-0"), ("b", (string?)null) })
            await admin.CoreV1.CreateNamespacedSecretAsync(new V1Secret
            {
                Metadata = new V1ObjectMeta { Name = name, Labels = label is null ? null : new Dictionary<string, string> { ["provisioner.dev/machine"] = label } },
            }, "kube-system", cancellationToken: Ct);

        var labelled = await admin.CoreV1.ListNamespacedSecretAsync("kube-system", labelSelector: "provisioner.dev/machine", cancellationToken: Ct);
        Assert.Equal(["a"], labelled.Items.Select(s => s.Metadata.Name));

        await admin.CoreV1.DeleteNamespacedSecretAsync("a", "kube-system", cancellationToken: Ct);
        var missing = await Assert.ThrowsAsync<HttpOperationException>(() => admin.CoreV1.ReadNamespacedSecretAsync("a", "kube-system", cancellationToken: Ct));
        Assert.Equal(HttpStatusCode.NotFound, missing.Response.StatusCode);
    }

    [Fact]
    public async Task Leader_election_on_a_lease_picks_one_holder_and_hands_over_when_it_stops()
    {
        const string LeasePath = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/test-lease";
        var leaseDuration = TimeSpan.FromSeconds(1);
        var retryPeriod = TimeSpan.FromMilliseconds(100);
        fake.AddUser("elector-a", "a");
        fake.AddUser("elector-b", "b");
        using var aClient = Client("elector-a");
        using var bClient = Client("elector-b");
        LeaderElector Elector(Kubernetes client, string identity) => new(new LeaderElectionConfig(new LeaseLock(client, "kube-system", "test-lease", identity))
        {
            LeaseDuration = leaseDuration, RenewDeadline = TimeSpan.FromMilliseconds(800), RetryPeriod = retryPeriod,
        });
        using var aStop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        using var bStop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var a = Elector(aClient, "a");
        var b = Elector(bClient, "b");
        var aLeads = new TaskCompletionSource();
        var bLeads = new TaskCompletionSource();
        a.OnStartedLeading += () => aLeads.TrySetResult();
        b.OnStartedLeading += () => bLeads.TrySetResult();
        int LeaseReadsBy(string user) => fake.Requests.Count(r => r.User == user && r.Method == "GET" && r.PathAndQuery == LeasePath);

        var aRun = a.RunUntilLeadershipLostAsync(aStop.Token);
        await aLeads.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        var bRun = b.RunUntilLeadershipLostAsync(bStop.Token);
        // b tries once per RetryPeriod. Once it has found the lease held on more tries than fit in a LeaseDuration,
        // a lease a had stopped renewing would have expired for b; so b having tried that often is the moment to look.
        var triesSpanningALease = (int)(leaseDuration / retryPeriod) + 2;
        await Eventually.That(() => LeaseReadsBy("b") >= triesSpanningALease, $"b to find the lease held on {triesSpanningALease} tries");
        Assert.False(bLeads.Task.IsCompleted, "b must not lead while a renews");
        Assert.DoesNotContain(fake.Requests, r => r.User == "b" && r.Method == "PUT" && r.PathAndQuery == LeasePath && r.Status == 200);
        Assert.Equal("a", (await admin.CoordinationV1.ReadNamespacedLeaseAsync("test-lease", "kube-system", cancellationToken: Ct)).Spec.HolderIdentity);

        await aStop.CancelAsync();
        await bLeads.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        var lease = await admin.CoordinationV1.ReadNamespacedLeaseAsync("test-lease", "kube-system", cancellationToken: Ct);
        Assert.Equal("b", lease.Spec.HolderIdentity);
        await bStop.CancelAsync();
        await Task.WhenAll(aRun, bRun).ContinueWith(_ => { }, TaskScheduler.Default);
    }

    [Fact]
    public async Task Fake_that_went_down_refuses_connections_until_it_comes_back_on_the_same_address_with_the_same_objects()
    {
        var kept = await admin.CertificatesV1.CreateCertificateSigningRequestAsync(NewCsr("kept"), cancellationToken: Ct);
        var address = fake.BaseAddress;

        await fake.GoDownAsync();
        var refused = await Assert.ThrowsAsync<HttpRequestException>(() => admin.CertificatesV1.ReadCertificateSigningRequestAsync("kept", cancellationToken: Ct));
        Assert.Equal(SocketError.ConnectionRefused, Assert.IsType<SocketException>(refused.InnerException).SocketErrorCode);

        await fake.ComeBackAsync(Ct);
        Assert.Equal(address, fake.BaseAddress);
        Assert.Equal(kept.Metadata.ResourceVersion, (await admin.CertificatesV1.ReadCertificateSigningRequestAsync("kept", cancellationToken: Ct)).Metadata.ResourceVersion);
        var later = await admin.CertificatesV1.CreateCertificateSigningRequestAsync(NewCsr("later"), cancellationToken: Ct);
        Assert.True(long.Parse(later.Metadata.ResourceVersion) > long.Parse(kept.Metadata.ResourceVersion), "the resourceVersion counter survives the outage");
    }

    [Fact]
    public async Task Fake_going_down_resets_open_watches()
    {
        var list = await admin.CertificatesV1.ListCertificateSigningRequestAsync(cancellationToken: Ct);
        Exception? failure = null;
        var watching = Task.Run(async () =>
        {
            try
            {
                await foreach (var _ in admin.CertificatesV1.WatchListCertificateSigningRequestAsync(
                                   resourceVersion: list.Metadata.ResourceVersion, onError: e => failure ??= e, cancellationToken: Ct)) { }
            }
            catch (Exception e) when (e is IOException or HttpRequestException) { failure ??= e; }
        }, Ct);
        await Eventually.That(() => fake.OpenWatches > 0, "the watch to open");

        await fake.GoDownAsync();

        await watching.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.True(failure is IOException or HttpRequestException, $"the client sees a broken connection, not a clean end: {failure}");
    }
}
