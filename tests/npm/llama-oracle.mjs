// llama.cpp as an oracle for the GGUF export and the model engine (through node-llama-cpp's prebuilt CPU build).
//
//   node llama-oracle.mjs info FILE.gguf
//       GGUF header as llama.cpp's JS reader parses it: {version, metadata, tensors: [{name, dimensions, ggmlType, offset}]}
//   node llama-oracle.mjs greedy REQUEST.json
//       REQUEST: {model, prompts: [[ids...], ...], maxNewTokens, threads?}
//       -> {results: [{promptLogits: [[...vocab] per prompt position], ids: [greedy ids], logits: [[...vocab] per new id]}]}
//       Flash attention off and an F32 KV cache: llama.cpp's defaults (flash attention, F16 cache) move logits by ~4e-4.
//   node llama-oracle.mjs tokenize FILE.gguf TEXTS.json
//       -> [[ids...] per text], llama.cpp's own tokenizer on the exported vocabulary (special tokens parsed).
//   node llama-oracle.mjs bench FILE.gguf [--threads N] [--prompt N] [--tokens N] [--repeats N]
//       -> {threads, promptTokens, decodeTokens, prefillTokensPerSecond, decodeTokensPerSecond} at batch 1, after a
//       warm-up, each the best of N runs (3), as `huatuo bench generate` measures the engine.
import { getLlama, readGgufFileInfo } from "node-llama-cpp";
import { readFileSync } from "node:fs";

const [command, ...args] = process.argv.slice(2);
const print = (value) => process.stdout.write(JSON.stringify(value, (_, v) => (typeof v === "bigint" ? Number(v) : v)) + "\n");
const fail = (message) => { process.stderr.write(`llama-oracle: ${message}\n`); process.exit(2); };
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};

async function load(modelPath, threads, contextSize) {
  const llama = await getLlama({ gpu: false, build: "never", logLevel: "error", maxThreads: threads });
  const model = await llama.loadModel({ modelPath, gpuLayers: 0, useMmap: true });
  const context = await model.createContext({
    contextSize, batchSize: contextSize, sequences: 1, threads: { ideal: threads, min: threads },
    flashAttention: false, experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32",
  });
  return { llama, model, context };
}

// logits: true returns every token's logit, sorted by value; put them back in id order.
const vocabArray = (logitsMap) => {
  const out = new Array(logitsMap.size).fill(null);
  for (const [token, logit] of logitsMap) out[token] = logit;
  return out;
};

const argmax = (values) => values.reduce((best, v, i) => (v > values[best] ? i : best), 0);

if (command === "info") {
  const info = await readGgufFileInfo(args[0], { readTensorInfo: true, logWarnings: false });
  print({
    version: info.version,
    metadata: info.metadata,
    tensors: (info.fullTensorInfo ?? info.tensorInfo ?? []).map((t) => ({ name: t.name, dimensions: t.dimensions, ggmlType: t.ggmlType, offset: t.offset })),
  });
} else if (command === "greedy") {
  const request = JSON.parse(readFileSync(args[0], "utf8"));
  const longest = Math.max(...request.prompts.map((p) => p.length)) + request.maxNewTokens;
  const { context } = await load(request.model, request.threads ?? 1, Math.max(32, longest));
  const results = [];
  const sequence = context.getSequence();
  for (const prompt of request.prompts) {
    await sequence.clearHistory();
    const evaluated = await sequence.controlledEvaluate(prompt.map((t) => [t, { generateNext: { logits: true } }]));
    const promptLogits = evaluated.map((r) => vocabArray(r.next.logits));
    const ids = [];
    const logits = [];
    let next = argmax(promptLogits.at(-1));
    for (let step = 0; step < request.maxNewTokens; step++) {
      ids.push(next);
      const [r] = await sequence.controlledEvaluate([[next, { generateNext: { logits: true } }]]);
      const row = vocabArray(r.next.logits);
      logits.push(row);
      next = argmax(row);
    }
    results.push({ promptLogits, ids, logits });
  }
  print({ results });
} else if (command === "tokenize") {
  const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
  const model = await llama.loadModel({ modelPath: args[0], gpuLayers: 0, vocabOnly: true });
  const texts = JSON.parse(readFileSync(args[1], "utf8"));
  print(texts.map((text) => model.tokenize(text, true)));
} else if (command === "bench") {
  const threads = option("threads", 1);
  const promptTokens = option("prompt", 16);
  const decodeTokens = option("tokens", 64);
  const { context, model } = await load(args[0], threads, promptTokens + decodeTokens + 8);
  const vocabSize = model.fileInfo.metadata.tokenizer.ggml.tokens.length;
  const prompt = Array.from({ length: promptTokens }, (_, i) => (i * 7919 + 13) % vocabSize);
  // Measured as bench generate measures our engine: a warm-up (one prefill and a few decode steps), then the best of
  // `repeats` prefills and the best of `repeats` decodes, the history cleared between them.
  const repeats = option("repeats", 3);
  const sequence = context.getSequence();
  const decodeSeconds = async (tokens) => {
    let produced = 0;
    let decodeStart = 0;
    // The clock starts when the first token comes back (its prefill excluded).
    for await (const token of sequence.evaluate(prompt, { temperature: 0 })) {
      void token;
      if (produced === 0) decodeStart = performance.now();
      if (++produced > tokens) break;
    }
    const seconds = (performance.now() - decodeStart) / 1000;
    await sequence.clearHistory();
    return seconds;
  };
  await decodeSeconds(4);
  let prefillSeconds = Infinity;
  for (let r = 0; r < repeats; r++) {
    const start = performance.now();
    await sequence.controlledEvaluate(prompt);
    prefillSeconds = Math.min(prefillSeconds, (performance.now() - start) / 1000);
    await sequence.clearHistory();
  }
  let bestDecodeSeconds = Infinity;
  for (let r = 0; r < repeats; r++) bestDecodeSeconds = Math.min(bestDecodeSeconds, await decodeSeconds(decodeTokens));
  print({
    threads, promptTokens, decodeTokens,
    prefillTokensPerSecond: promptTokens / prefillSeconds,
    decodeTokensPerSecond: decodeTokens / bestDecodeSeconds,
    // node's own peak resident memory (maxRSS is in KiB): llama.cpp's mapped weights plus the node runtime.
    peakResidentBytes: process.resourceUsage().maxRSS * 1024,
  });
} else {
  fail(`unknown command '${command ?? ""}' (info | greedy | tokenize | bench)`);
}
// Exit explicitly (llama.cpp's threads keep node alive), but only after stdout has drained: pipe writes are asynchronous.
process.stdout.write("", () => process.exit(0));
