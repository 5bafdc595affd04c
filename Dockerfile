# Multi-stage build: SDK → ASP.NET runtime. Mirrors `dotnet publish` as run in CI.
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY Directory.Build.props Provisioner.sln ./
COPY src/Provisioner/Provisioner.csproj src/Provisioner/
RUN dotnet restore src/Provisioner/Provisioner.csproj
COPY src/ src/
# The csproj ships the example templates beside the program (the fallback when none are beside the profiles).
COPY ignition-templates/ ignition-templates/
RUN dotnet publish src/Provisioner/Provisioner.csproj -c Release -o /app --no-restore

FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /app ./
COPY profiles/ /etc/provisioner/profiles/
COPY ignition-templates/ /etc/provisioner/ignition-templates/
RUN mkdir -p /var/lib/provisioner/assets /var/lib/provisioner/cluster /var/lib/provisioner/release-store && chown -R app:app /var/lib/provisioner
# The image's unprivileged user; TFTP/ProxyDHCP on ports < 1024 need NET_BIND_SERVICE granted at run time.
USER app
ENV PROVISIONER_PROFILES=/etc/provisioner/profiles \
    PROVISIONER_TEMPLATES=/etc/provisioner/ignition-templates \
    PROVISIONER_ASSETS=/var/lib/provisioner/assets \
    PROVISIONER_CLUSTER_DIR=/var/lib/provisioner/cluster \
    PROVISIONER_STORE=/var/lib/provisioner/release-store \
    PROVISIONER_LISTEN=0.0.0.0:8080
VOLUME ["/etc/provisioner/profiles", "/etc/provisioner/ignition-templates", "/var/lib/provisioner/assets", "/var/lib/provisioner/cluster", "/var/lib/provisioner/release-store"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD ["/bin/sh", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q '200 OK' <&3"]
ENTRYPOINT ["dotnet", "/app/provisioner.dll"]
CMD ["serve"]
