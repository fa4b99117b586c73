using System.Text;
using HuatuoAspire.Data.Import;

namespace HuatuoAspire.Data.FunctionalTests;

/// <summary>The streaming reader on its own (no database): line numbers must stay right across buffer refills.</summary>
public sealed class JsonRecordReaderTests
{
    private static async Task<List<(int Line, string? Text, string? Error, bool Fatal)>> ReadAsync(string content, bool bom = false)
    {
        var bytes = Encoding.UTF8.GetBytes(content);
        if (bom) bytes = [0xEF, 0xBB, 0xBF, .. bytes];
        using var stream = new MemoryStream(bytes);
        var result = new List<(int, string?, string?, bool)>();
        await foreach (var record in JsonRecordReader.ReadAsync(stream))
        {
            using (record)
                result.Add((record.Line, record.Document?.RootElement.GetProperty("q").GetString(), record.Error, record.Fatal));
        }
        return result;
    }

    [Fact]
    public async Task ArrayElementLineNumbersStayRightWhenElementsAreLargerThanTheBuffer()
    {
        // Elements of 100 KB and more force the 64 KB buffer to grow and to be refilled mid-element.
        var big = new string('x', 100_000);
        var builder = new StringBuilder("[\n");
        var expectedLines = new List<int>();
        var line = 2;
        for (var i = 0; i < 5; i++)
        {
            expectedLines.Add(line);
            builder.Append($"  {{\n    \"q\": \"{i}{big}\",\n    \"n\": {i}\n  }}{(i < 4 ? "," : "")}\n");
            line += 4;
        }
        builder.Append("]\n");

        var records = await ReadAsync(builder.ToString(), bom: true);
        Assert.Equal(expectedLines, records.Select(r => r.Line));
        Assert.Equal(["0", "1", "2", "3", "4"], records.Select(r => r.Text![..1]));
        Assert.All(records, r => Assert.Null(r.Error));
    }

    [Fact]
    public async Task ManySmallElementsOnOneLineAllReportLineOne()
    {
        var content = "[" + string.Join(",", Enumerable.Range(0, 5000).Select(i => $"{{\"q\":\"{i}\"}}")) + "]";
        var records = await ReadAsync(content);
        Assert.Equal(5000, records.Count);
        Assert.All(records, r => Assert.Equal(1, r.Line));
        Assert.Equal("4999", records[^1].Text);
    }

    [Fact]
    public async Task AnArrayElementThatIsNotAnObjectIsAnErrorButReadingGoesOn()
    {
        var records = await ReadAsync("[\n{\"q\": \"a\"},\n42,\n{\"q\": \"b\"}\n]");
        Assert.Equal([2, 3, 4], records.Select(r => r.Line));
        Assert.Equal("array element is a JSON Number, not an object", records[1].Error);
        Assert.False(records[1].Fatal);
        Assert.Equal("b", records[2].Text);
    }

    [Fact]
    public async Task AnUnclosedArrayIsAFatalError()
    {
        var records = await ReadAsync("[\n{\"q\": \"a\"},\n{\"q\": \"b\"}\n");
        Assert.Equal(["a", "b"], records.Take(2).Select(r => r.Text));
        Assert.True(records[^1].Fatal);
    }

    [Fact]
    public async Task JsonLinesSkipBlankLinesAndKeepCountingThem()
    {
        var records = await ReadAsync("{\"q\": \"a\"}\r\n\r\n{\"q\": \"b\"}\n{oops\n{\"q\": \"c\"}");
        Assert.Equal([1, 3, 4, 5], records.Select(r => r.Line));
        Assert.StartsWith("invalid JSON", records[2].Error);
        Assert.Equal("c", records[3].Text);
    }
}
