using System.Text.Json.Nodes;
using HuatuoAspire.Model;
using HuatuoAspire.Model.Checkpoints;
using HuatuoAspire.Model.Modules;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace HuatuoAspire.Training.Scoring;

/// <summary>
/// A decoder trunk with a linear <c>score</c> head per token, named as Hugging Face's
/// <c>LlamaForSequenceClassification</c>/<c>Qwen2ForSequenceClassification</c> (<c>model.*</c>, <c>score.weight</c>):
/// with one label it is the PPO value model, with two the classifier verifier.
/// </summary>
public sealed class SequenceScoringModel : nn.Module<Tensor, Tensor?, Tensor>
{
#pragma warning disable IDE1006 // field names are the Hugging Face state-dict keys
    public readonly DecoderModel model;
    public readonly Linear score;
#pragma warning restore IDE1006
    private readonly Func<Tensor, Tensor?, Tensor> _hidden;

    private SequenceScoringModel(CausalLanguageModel backbone, int labels) : base("SequenceScoringModel")
    {
        model = backbone.model;
        Config = backbone.Config with { NumLabels = labels };
        Placement = backbone.Placement;
        score = nn.Linear(Config.HiddenSize, labels, hasBias: false, device: Placement.Device, dtype: Placement.DType);
        _hidden = backbone.ForwardHidden;
        RegisterComponents();
    }

    public ModelConfig Config { get; }
    public ModelPlacement Placement { get; }

    /// <summary>Scores per token [B, T, labels] for right-padded ids with their attention mask.</summary>
    public override Tensor forward(Tensor inputIds, Tensor? attentionMask) => score.forward(_hidden(inputIds, attentionMask));

    /// <summary>
    /// A value model from a folder: a sequence-classification checkpoint loads whole; a causal-LM checkpoint gives
    /// the trunk and the head starts at zero (every value 0 before training).
    /// </summary>
    public static SequenceScoringModel FromPretrained(string directory, int labels, ModelPlacement placement)
    {
        var config = ModelConfig.Load(directory);
        using var checkpoint = HuggingFaceCheckpoint.Open(directory);
        var hasScore = checkpoint.Names.Contains("score.weight");
        // Tied embeddings: the backbone allocates no lm_head, which a scoring model never uses.
        CausalLanguageModel backbone;
        SequenceScoringModel scoring;
        // Every weight is loaded below, or zeroed (a new head): no initialisation pass first.
        using (Projection.WeightsLoadedAfterwards())
        {
            backbone = new CausalLanguageModel(config with { TieWordEmbeddings = true }, placement);
            scoring = new SequenceScoringModel(backbone, labels);
        }
        if (hasScore)
        {
            checkpoint.LoadInto(scoring, name => backbone.IsIgnorableCheckpointTensor(name) || name == "lm_head.weight");
        }
        else
        {
            checkpoint.LoadInto(backbone, name => backbone.IsIgnorableCheckpointTensor(name) || name == "lm_head.weight");
            using var _ = no_grad();
            scoring.score.weight!.zero_();
        }
        scoring.eval();
        return scoring;
    }

    public void SavePretrained(string directory)
    {
        Directory.CreateDirectory(directory);
        var architecture = Config.IsQwen2 ? "Qwen2ForSequenceClassification" : "LlamaForSequenceClassification";
        (Config with { Architectures = [architecture], TorchDtype = Placement.DType.ToTorchDtypeName() }).Save(directory);
        HuggingFaceCheckpoint.Save(this, directory);
        // num_labels is what transformers reads; keep id2label consistent with it.
        var path = Path.Combine(directory, "config.json");
        var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        json["num_labels"] = Config.NumLabels;
        File.WriteAllText(path, json.ToJsonString(ModelConfig.JsonOptions));
    }
}
