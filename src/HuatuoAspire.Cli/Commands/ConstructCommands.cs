using System.CommandLine;
using HuatuoAspire.Reasoning.Construction;
using HuatuoAspire.Reasoning.Files;
using HuatuoAspire.Reasoning.Llm;
using Spectre.Console;

namespace HuatuoAspire.Cli.Commands;

public static class ConstructCommands
{
    public static Command CreateConstruct()
    {
        var input = new Option<FileInfo>("--in") { Description = "Multiple-choice questions (JSON array or JSON lines: question, options, answer_idx, answer).", Required = true };
        var output = new Option<FileInfo>("--out") { Description = "Output JSON-lines file; an existing one is resumed (finished process_ids are skipped).", Required = true };
        var concurrency = new Option<int>("--concurrency") { Description = "Questions processed at once (and the endpoint's request limit).", DefaultValueFactory = _ => 8 };
        var difficulty = new Option<string[]>("--difficulty-model")
        {
            Description = "Small model for the difficulty filter, as MODEL (on --llm) or MODEL@URL; repeat for several. A question all of them answer correctly is dropped.",
            AllowMultipleArgumentsPerToken = false,
        };
        var noFilter = new Option<bool>("--no-filter") { Description = "Skip the LLM filter verdict (Pass / Too Simple / Ambiguous Answer / Not Reformulatable)." };
        var minChars = new Option<int>("--min-question-chars") { Description = "Drop questions shorter than this.", DefaultValueFactory = _ => 40 };
        var limit = new Option<int?>("--limit") { Description = "Only the first N questions." };
        var language = new Option<string>("--language") { Description = "en or zh: the language of the open-ended questions and answers.", DefaultValueFactory = _ => "en" };
        language.AcceptOnlyFromAmong("en", "zh");
        var llm = new LlmArguments();
        var command = new Command("construct", "Turn multiple-choice questions into verifiable open-ended problems (stage 0 of HuatuoGPT-o1).")
        {
            input, output, concurrency, difficulty, noFilter, minChars, limit, language,
        };
        llm.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            try
            {
                var parallelism = parse.GetValue(concurrency);
                if (parallelism < 1) throw new LlmConfigurationException($"--concurrency must be at least 1, got {parallelism}.");
                var inPath = parse.GetValue(input)!.FullName;
                var records = RecordFile.Read(inPath);
                if (parse.GetValue(limit) is { } n) records = records.Take(n).ToList();
                var questions = PipelineRecords.ReadMultipleChoice(records, inPath).ToDictionary(q => q.Input.ProcessId, q => q.Question);

                var writerOptions = llm.Resolve(parse, "construct", parallelism);
                var ledger = new LlmUsageLedger();
                using var writer = new LlmEndpoint(writerOptions, ledger);
                var smallModels = (parse.GetValue(difficulty) ?? []).Select((spec, i) => SmallModel(spec, i, writerOptions, parallelism, ledger)).ToList();
                try
                {
                    var construction = new ProblemConstruction(writer, smallModels, new ConstructionOptions
                    {
                        LlmFilter = !parse.GetValue(noFilter),
                        MinQuestionCharacters = parse.GetValue(minChars),
                        Language = HuatuoAspire.Reasoning.Prompts.PromptLanguages.Parse(parse.GetValue(language)),
                    });
                    return await FileJobConsole.RunAsync("construct", parse.GetValue(output)!.FullName, parallelism, records,
                        async (record, token) => PipelineRecords.ConstructionRecord(record, await construction.ConstructAsync(questions[record.ProcessId], token)),
                        ledger, ct);
                }
                finally
                {
                    foreach (var model in smallModels) model.Dispose();
                }
            }
            catch (Exception exception) when (exception is RecordFileException or LlmConfigurationException)
            {
                AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {exception.Message}");
                return 2;
            }
        });
        return command;
    }

    private static LlmEndpoint SmallModel(string spec, int index, LlmEndpointOptions writer, int concurrency, LlmUsageLedger ledger)
    {
        var at = spec.LastIndexOf('@');
        var model = at < 0 ? spec : spec[..at];
        var url = at < 0 ? writer.BaseUrl : Uri.TryCreate(spec[(at + 1)..], UriKind.Absolute, out var parsed)
            ? parsed
            : throw new LlmConfigurationException($"--difficulty-model '{spec}': '{spec[(at + 1)..]}' is not an absolute URL.");
        return new LlmEndpoint(writer with { Name = $"difficulty-{index + 1}", Model = model, BaseUrl = url, MaxConcurrency = concurrency }, ledger);
    }
}
