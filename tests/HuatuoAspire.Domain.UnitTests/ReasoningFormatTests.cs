using System.Text.Json;
using HuatuoAspire.Domain;

namespace HuatuoAspire.Domain.UnitTests;

public sealed class ReasoningFormatTests
{
    [Fact]
    public void ComposeWritesTheReferenceLayout() =>
        Assert.Equal("## Thinking\n\ncot\n\n## Final Response\n\nanswer", ReasoningFormat.Compose(" cot \n", "\nanswer "));

    [Fact]
    public void EveryDemoRecordRoundTrips()
    {
        var records = JsonDocument.Parse(File.ReadAllText(DemoDataPath())).RootElement.EnumerateArray().ToList();
        Assert.Equal(198, records.Count);
        foreach (var record in records)
        {
            var cot = record.GetProperty("Complex_CoT").GetString()!;
            var response = record.GetProperty("Response").GetString()!;
            Assert.Equal(new ReasoningSections(cot.Trim(), response.Trim()), ReasoningFormat.Parse(ReasoningFormat.Compose(cot, response)));
        }
    }

    [Fact]
    public void CrlfAndTrailingWhitespaceAreTolerated() =>
        Assert.Equal(new ReasoningSections("a\r\nb", "c"), ReasoningFormat.Parse("## Thinking  \r\n\r\na\r\nb\r\n\r\n## Final Response \r\n\r\nc \r\n"));

    [Theory]
    [InlineData("no headers at all")]
    [InlineData("## Thinking\n\nonly thinking, cut off")]
    [InlineData("## Final Response\n\nx\n\n## Thinking\n\ny")]
    [InlineData("## Thinking\n\na\n\n## Thinking\n\nb\n\n## Final Response\n\nc")]
    [InlineData("## Thinking\n\na\n\n## Final Response\n\nb\n\n## Final Response\n\nc")]
    public void AnythingButOneThinkingThenOneFinalResponseIsNotWellFormed(string text) => Assert.Null(ReasoningFormat.Parse(text));

    private static string DemoDataPath()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "shared", "data", "huatuo", "demo_data.json");
            if (File.Exists(candidate)) return candidate;
        }

        throw new FileNotFoundException("shared/data/huatuo/demo_data.json not found above " + AppContext.BaseDirectory);
    }
}
