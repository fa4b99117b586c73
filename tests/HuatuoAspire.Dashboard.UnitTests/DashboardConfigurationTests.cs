using HuatuoAspire.Dashboard.Services;
using Microsoft.Extensions.Configuration;

namespace HuatuoAspire.Dashboard.UnitTests;

public sealed class DashboardConfigurationTests
{
    private static IConfiguration With(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build();

    [Fact]
    public void TheUploadLimitIsSixteenGibibytesUnlessConfiguredInMebibytes()
    {
        Assert.Equal(16L << 30, new UploadLimit(With()).MaxBytes);
        Assert.Equal(3L << 20, new UploadLimit(With(("Dashboard:UploadLimitMiB", "3"))).MaxBytes);
        Assert.Equal("16 GiB", UploadLimit.Describe(16L << 30));
        Assert.Equal("1.5 MiB", UploadLimit.Describe(3L << 19));
    }

    [Fact]
    public void TraceLinksPointIntoTheAspireDashboardOnlyWhenItsAddressIsKnown()
    {
        Assert.Null(AspireDashboard.TracesOf(With()));
        Assert.Null(AspireDashboard.TracesOf(With((AspireDashboard.UrlKey, "not a url"))));
        Assert.Equal("https://localhost:17080/traces/resource/workers", AspireDashboard.TracesOf(With((AspireDashboard.UrlKey, "https://localhost:17080/"))));
    }

    [Fact]
    public void ARunsTraceLinkFiltersItsServicesTracesOnTheRunsIdAsTheAspireDashboardWritesFilters()
    {
        Assert.Null(AspireDashboard.RunTracesOf(With(), "workers", 7));
        Assert.Equal("https://localhost:17080/traces/resource/trainer?filters=huatuo.run.id%3Aequals%3A12",
            AspireDashboard.RunTracesOf(With((AspireDashboard.UrlKey, "https://localhost:17080")), "trainer", 12));
    }
}
