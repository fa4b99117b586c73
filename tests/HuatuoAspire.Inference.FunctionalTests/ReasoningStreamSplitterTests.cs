using HuatuoAspire.Domain;
using HuatuoAspire.Inference.Serving;

namespace HuatuoAspire.Inference.FunctionalTests;

public sealed class ReasoningStreamSplitterTests
{
    private const string Reply = "## Thinking\n\nThe patient has a fever.\nSo infection is likely.\n\n## Final Response\n\nThe answer is B.";

    [Fact]
    public void WholeReplySplitsIntoThinkingAndFinalResponse()
    {
        var (reasoning, content) = ReasoningStreamSplitter.Split(Reply);
        Assert.Equal("The patient has a fever.\nSo infection is likely.", reasoning);
        Assert.Equal("The answer is B.", content);
    }

    [Fact]
    public void ReplyWithoutThinkingHeaderIsAllContent()
    {
        Assert.Equal((null, "Plain answer ## Final Response here"), ReasoningStreamSplitter.Split("Plain answer ## Final Response here"));
        Assert.Equal((null, "## Thin"), ReasoningStreamSplitter.Split("## Thin"));
    }

    [Fact]
    public void UnfinishedThinkingIsAllReasoning()
    {
        Assert.Equal(("Still thinking", ""), ReasoningStreamSplitter.Split("## Thinking\n\nStill thinking\n\n"));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(7)]
    public void StreamingInAnyChunkSizeGivesTheSameSplitAndNeverLeaksTheMarker(int chunk)
    {
        var splitter = new ReasoningStreamSplitter();
        var reasoning = ""; var content = "";
        for (var i = 0; i < Reply.Length; i += chunk)
        {
            var d = splitter.Push(Reply.Substring(i, Math.Min(chunk, Reply.Length - i)));
            Assert.DoesNotContain("#", d.Reasoning ?? "");
            Assert.DoesNotContain("#", d.Content ?? "");
            reasoning += d.Reasoning; content += d.Content;
        }
        var last = splitter.Finish();
        reasoning += last.Reasoning; content += last.Content;
        Assert.Equal(ReasoningStreamSplitter.SplitAsStreamed(Reply), (reasoning, content));
        Assert.Equal(ReasoningStreamSplitter.Split(Reply), (reasoning, content));
    }

    [Fact]
    public void WellFormedRepliesSplitAsTheSharedReasoningFormatParsesThem()
    {
        var composed = ReasoningFormat.Compose("  Think about iron.\nThen B12. ", " The answer is A. ");
        var sections = ReasoningFormat.Parse(composed)!;
        Assert.Equal((sections.Thinking, sections.FinalResponse), ReasoningStreamSplitter.Split(composed));
        Assert.Equal((sections.Thinking, sections.FinalResponse), ReasoningStreamSplitter.SplitAsStreamed(composed));
    }

    [Fact]
    public void HashesInsideReasoningThatAreNotTheMarkerAreReleased()
    {
        var splitter = new ReasoningStreamSplitter();
        var d1 = splitter.Push("## Thinking\n\nStep ## Fin");
        Assert.Equal("Step", d1.Reasoning);
        var d2 = splitter.Push("ish it");
        Assert.Equal(" ## Finish it", d2.Reasoning);
    }
}
