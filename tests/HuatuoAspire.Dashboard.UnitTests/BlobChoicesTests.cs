using HuatuoAspire.Dashboard.Services;

namespace HuatuoAspire.Dashboard.UnitTests;

public sealed class BlobChoicesTests
{
    private static readonly string[] Blobs =
    [
        "models/tiny/config.json", "models/tiny/model.safetensors", "models/tiny/tokenizer.json",
        "training/run-3/final/config.json", "training/run-3/final/model.safetensors",
        "data/sft.jsonl", "data/ppo.json", "benchmarks/abc/mini.jsonl", "notes.txt",
    ];

    [Fact]
    public void AFolderWithAConfigIsAModelAndItsJsonFilesAreNotDataFiles()
    {
        var choices = BlobChoices.From(Blobs);
        Assert.Equal(["blob:models/tiny", "blob:training/run-3/final"], choices.Models);
        Assert.Equal(["blob:benchmarks/abc/mini.jsonl", "blob:data/ppo.json", "blob:data/sft.jsonl"], choices.DataFiles);
        Assert.Null(choices.Problem);
    }

    [Fact]
    public void NothingUploadedOffersNothing()
    {
        var choices = BlobChoices.From([]);
        Assert.Empty(choices.Models);
        Assert.Empty(choices.DataFiles);
    }
}
