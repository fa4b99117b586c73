using System.CommandLine;
using HuatuoAspire.Domain.Verification;
using HuatuoAspire.Reasoning.Files;
using HuatuoAspire.Reasoning.Llm;
using HuatuoAspire.Reasoning.Search;
using HuatuoAspire.Reasoning.Verification;
using Spectre.Console;

namespace HuatuoAspire.Cli.Commands;

public static class SearchCommands
{
    public static Command CreateSearch()
    {
        var input = new Option<FileInfo>("--in") { Description = "Verifiable problems (JSON or JSON lines with \"Open-ended Verifiable Question\" and \"Ground-True Answer\").", Required = true };
        var output = new Option<FileInfo>("--out") { Description = "Output JSON-lines file with Question, Complex_CoT, Response and the search trace; an existing one is resumed.", Required = true };
        var maxDepth = new Option<int?>("--max-depth") { Description = "Refinements per attempt (default: paper N = 3; with --efficient-search the reference script's 2)." };
        var maxAttempts = new Option<int?>("--max-attempts") { Description = "Attempts per problem (default: paper T = 3; with --efficient-search the reference script's 1)." };
        var reuse = new Option<bool?>("--reuse-initial-cot") { Description = "Restart attempts from the first chain of thought instead of a new one (default: on with --efficient-search, as the reference)." };
        var language = new Option<string>("--language") { Description = "en or zh: the language of the search prompts (zh: the reference's Chinese version).", DefaultValueFactory = _ => "en" };
        language.AcceptOnlyFromAmong("en", "zh");
        var verifierKind = new Option<string>("--verifier") { Description = "llm (an LLM judge, default) or rule (no LLM).", DefaultValueFactory = _ => "llm" };
        var efficient = new Option<bool>("--efficient-search") { Description = "The reference's efficient mode: when every attempt fails, reveal the label for one more continuation (marked label_guided, not verified); the reference script's defaults for depth, attempts and restarts." };
        var seed = new Option<int>("--seed") { Description = "Seed of the strategy choice.", DefaultValueFactory = _ => 42 };
        var concurrency = new Option<int>("--concurrency") { Description = "Problems searched at once (and the endpoint's request limit).", DefaultValueFactory = _ => 8 };
        var limit = new Option<int?>("--limit") { Description = "Only the first N problems." };
        var llm = new LlmArguments();
        var judge = new LlmArguments("judge-", "LLM judge (defaults to --llm)");
        var command = new Command("search", "Search verified complex reasoning paths for verifiable problems (stage 1 data of HuatuoGPT-o1).")
        {
            input, output, maxDepth, maxAttempts, verifierKind, efficient, reuse, language, seed, concurrency, limit,
        };
        llm.AddTo(command);
        judge.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            try
            {
                var parallelism = parse.GetValue(concurrency);
                if (parallelism < 1) throw new LlmConfigurationException($"--concurrency must be at least 1, got {parallelism}.");
                var defaults = parse.GetValue(efficient) ? SearchOptions.ReferenceEfficient : new SearchOptions();
                var options = defaults with
                {
                    MaxDepth = parse.GetValue(maxDepth) ?? defaults.MaxDepth,
                    MaxAttempts = parse.GetValue(maxAttempts) ?? defaults.MaxAttempts,
                    ReuseInitialReasoning = parse.GetValue(reuse) ?? defaults.ReuseInitialReasoning,
                    Language = HuatuoAspire.Reasoning.Prompts.PromptLanguages.Parse(parse.GetValue(language)),
                    Seed = parse.GetValue(seed),
                };
                try { options.Validate(); }
                catch (ArgumentOutOfRangeException exception) { throw new LlmConfigurationException($"--{(exception.ParamName == nameof(SearchOptions.MaxDepth) ? "max-depth" : "max-attempts")}: {exception.Message}"); }

                var inPath = parse.GetValue(input)!.FullName;
                var records = RecordFile.Read(inPath);
                if (parse.GetValue(limit) is { } n) records = records.Take(n).ToList();
                var problems = PipelineRecords.ReadVerifiable(records, out var skipped);
                if (skipped > 0) AnsiConsole.MarkupLineInterpolated($"[grey]{skipped} record(s) without an open-ended question and ground-truth answer are skipped.[/]");
                var byId = problems.ToDictionary(p => p.Input.ProcessId);

                var ledger = new LlmUsageLedger();
                using var generator = new LlmEndpoint(llm.Resolve(parse, "search", parallelism), ledger);
                var specification = VerifierSpecification.TryParse(parse.GetValue(verifierKind), out var parsed, out var error)
                    ? parsed : throw new LlmConfigurationException($"--verifier: {error}");
                // The command line names its judge with --judge-url, not with a configured endpoint name.
                if (specification.Kind == VerifierKind.Classifier || specification.Endpoint is not null)
                    throw new LlmConfigurationException($"--verifier must be llm or rule, got '{specification}'.");
                using var judgeEndpoint = specification.Kind == VerifierKind.Llm && judge.IsGiven(parse)
                    ? new LlmEndpoint(judge.Resolve(parse, "judge", parallelism), ledger) : null;
                var verifier = await new AnswerVerifierFactory(_ => judgeEndpoint ?? generator).CreateAsync(specification, ct);
                var search = new ReasoningPathSearch(generator, verifier, options);
                return await FileJobConsole.RunAsync("search", parse.GetValue(output)!.FullName, parallelism, problems.Select(p => p.Input).ToList(),
                    async (record, token) =>
                    {
                        var problem = byId[record.ProcessId];
                        return PipelineRecords.SearchRecord(record, await search.SearchAsync(problem.Question, problem.Answer, record.ProcessId, token));
                    },
                    ledger, ct);
            }
            catch (Exception exception) when (exception is RecordFileException or LlmConfigurationException)
            {
                AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {exception.Message}");
                return 2;
            }
        });
        return command;
    }
}
