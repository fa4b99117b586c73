using HuatuoAspire.Model.Tokenization;

namespace HuatuoAspire.Model.Generation;

/// <summary>
/// The text side of one generated sequence: decodes tokens into valid UTF-8 chunks as they come, and applies stop
/// strings — text that could still turn into a stop string is held back, and the text is cut before the stop string.
/// </summary>
public sealed class SequenceText(HfTokenizer tokenizer, IReadOnlyList<string> stopStrings, bool skipSpecialTokens = true)
{
    private readonly TextStreamDecoder _decoder = tokenizer.CreateStreamDecoder(skipSpecialTokens);
    private readonly System.Text.StringBuilder _pending = new();
    private readonly System.Text.StringBuilder _emitted = new();

    /// <summary>All text handed out so far.</summary>
    public string Text => _emitted.ToString();

    public bool Stopped { get; private set; }

    /// <summary>Adds a token; returns the text that can be shown now (possibly empty).</summary>
    public string Push(int tokenId)
    {
        if (Stopped) return "";
        _pending.Append(_decoder.Push(tokenId));
        return Release(final: false);
    }

    /// <summary>The sequence ended for another reason: release what was held back.</summary>
    public string Finish()
    {
        if (Stopped) return "";
        _pending.Append(_decoder.Flush());
        return Release(final: true);
    }

    private string Release(bool final)
    {
        var text = _pending.ToString();
        var cut = -1;
        foreach (var stop in stopStrings)
        {
            if (stop.Length == 0) continue;
            var at = text.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (cut < 0 || at < cut)) cut = at;
        }
        if (cut >= 0)
        {
            Stopped = true;
            _pending.Clear();
            return Emit(text[..cut]);
        }
        var hold = final ? 0 : HeldBack(text);
        _pending.Clear().Append(text, text.Length - hold, hold);
        return Emit(text[..^hold]);
    }

    private string Emit(string chunk)
    {
        _emitted.Append(chunk);
        return chunk;
    }

    /// <summary>Length of the longest suffix of <paramref name="text"/> that is a proper prefix of a stop string.</summary>
    private int HeldBack(string text)
    {
        var hold = 0;
        foreach (var stop in stopStrings)
        {
            for (var k = Math.Min(stop.Length - 1, text.Length); k > hold; k--)
            {
                if (text.AsSpan(text.Length - k).SequenceEqual(stop.AsSpan(0, k))) { hold = k; break; }
            }
        }
        return hold;
    }
}

/// <summary>A finished generation: the prompt, the tokens sampled (with log-probabilities) and the text.</summary>
public sealed record GenerationResult(
    IReadOnlyList<int> PromptIds, IReadOnlyList<int> TokenIds, IReadOnlyList<SampledToken> Tokens, string Text, FinishReason Finish);

/// <summary>Runs a set of prompts to completion on a <see cref="BatchedDecoder"/>, streaming text as it comes.</summary>
public static class TextGeneration
{
    /// <param name="onText">Called with (prompt index, text chunk) as valid UTF-8 text becomes available.</param>
    public static IReadOnlyList<GenerationResult> Generate(CausalLanguageModel model, HfTokenizer tokenizer,
        IReadOnlyList<IReadOnlyList<int>> prompts, SamplingOptions options, int maxBatch = 8,
        Action<int, string>? onText = null, CancellationToken ct = default)
    {
        var maxLength = prompts.Count == 0 ? 2 : prompts.Max(p => p.Count) + options.MaxNewTokens + 1;
        var stops = options.StopTokenIds ?? tokenizer.EosTokenIds;
        using var decoder = new BatchedDecoder(model, Math.Max(1, Math.Min(maxBatch, prompts.Count)), maxLength, stops);
        var states = prompts.Select(p => new State(p, new SequenceText(tokenizer, options.StopStrings))).ToArray();
        var byId = new Dictionary<long, int>();
        var next = 0;

        void Handle(int index, DecodedToken token)
        {
            var state = states[index];
            state.Tokens.Add(token.Token);
            var finish = token.Finish;
            var chunk = stops.Contains(token.Token.TokenId) ? state.Text.Finish() : state.Text.Push(token.Token.TokenId);
            if (finish == FinishReason.None && state.Text.Stopped)
            {
                finish = FinishReason.Stop;
                decoder.Remove(token.SequenceId);
            }
            else if (finish != FinishReason.None && !stops.Contains(token.Token.TokenId))
            {
                chunk += state.Text.Finish();
            }
            if (chunk.Length > 0) onText?.Invoke(index, chunk);
            if (finish != FinishReason.None) state.Finish = finish;
        }

        while (next < prompts.Count || decoder.Active > 0)
        {
            ct.ThrowIfCancellationRequested();
            while (next < prompts.Count && decoder.HasRoom)
            {
                var index = next++;
                var first = decoder.Add(prompts[index], options);
                byId[first.SequenceId] = index;
                Handle(index, first);
            }
            foreach (var token in decoder.Step()) Handle(byId[token.SequenceId], token);
        }
        return states.Select(s => new GenerationResult(s.Prompt, s.Tokens.Select(t => t.TokenId).ToArray(), s.Tokens, s.Text.Text, s.Finish)).ToArray();
    }

    private sealed class State(IReadOnlyList<int> prompt, SequenceText text)
    {
        public IReadOnlyList<int> Prompt { get; } = prompt;
        public SequenceText Text { get; } = text;
        public List<SampledToken> Tokens { get; } = [];
        public FinishReason Finish { get; set; }
    }
}
