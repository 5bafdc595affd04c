using Microsoft.Net.Http.Headers;
using Provisioner.Assets;

namespace Provisioner.Tests.Assets;

public sealed class ByteRangesTests
{
    private static RangePlan Plan(string header, long length) =>
        ByteRanges.Plan(RangeHeaderValue.TryParse(header, out var parsed) ? parsed : null, length);

    [Fact]
    public void Suffix_longer_than_the_file_covers_the_whole_file()
    {
        Assert.Equal([new ByteRange(0, 99)], Plan("bytes=-1000", 100).Ranges);
    }

    [Fact]
    public void Zero_length_suffix_is_unsatisfiable()
    {
        Assert.Equal(RangeOutcome.Unsatisfiable, Plan("bytes=-0", 100).Outcome);
    }

    [Fact]
    public void Any_range_of_an_empty_file_is_unsatisfiable()
    {
        Assert.Equal(RangeOutcome.Unsatisfiable, Plan("bytes=0-", 0).Outcome);
    }

    [Fact]
    public void Unsatisfiable_ranges_are_dropped_when_others_are_satisfiable()
    {
        Assert.Equal([new ByteRange(0, 9)], Plan("bytes=500-600,0-9", 100).Ranges);
    }

    [Fact]
    public void Start_at_the_file_length_is_unsatisfiable()
    {
        Assert.Equal(RangeOutcome.Unsatisfiable, Plan("bytes=100-", 100).Outcome);
    }

    [Fact]
    public void Touching_ranges_are_merged()
    {
        Assert.Equal([new ByteRange(0, 19)], Plan("bytes=0-9,10-19", 100).Ranges);
    }

    [Fact]
    public void Ranges_are_sent_in_ascending_order()
    {
        Assert.Equal([new ByteRange(0, 9), new ByteRange(50, 59)], Plan("bytes=50-59,0-9", 100).Ranges);
    }

    [Fact]
    public void Exactly_the_cap_of_distinct_ranges_is_still_served()
    {
        var header = "bytes=" + string.Join(',', Enumerable.Range(0, ByteRanges.MaxRanges).Select(i => $"{i * 10}-{i * 10 + 4}"));

        Assert.Equal(ByteRanges.MaxRanges, Plan(header, 1000).Ranges.Count);
    }

    [Fact]
    public void Missing_header_means_the_whole_file()
    {
        Assert.Equal(RangeOutcome.WholeFile, ByteRanges.Plan(null, 100).Outcome);
    }
}
