// Reference ids for HfTokenizer's tests: Hugging Face's tokenizer (transformers.js fork @lenml/tokenizers) given a
// folder's tokenizer.json + tokenizer_config.json. Reads one JSON string per stdin line and writes one JSON object
// per line: {"ids": encode(text) with special tokens, "plain": encode(text) without, "decoded": decode(ids)}.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { TokenizerLoader } from "@lenml/tokenizers";

const dir = process.argv[2];
if (!dir) { console.error("usage: node tokenize.mjs TOKENIZER_DIR < lines.jsonl"); process.exit(2); }
const tokenizer = TokenizerLoader.fromPreTrained({
  tokenizerJSON: JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8")),
  tokenizerConfig: JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8")),
});
const input = readFileSync(0, "utf8").split("\n").filter(line => line.trim().length > 0);
const out = [];
for (const line of input) {
  const text = JSON.parse(line);
  const ids = tokenizer.encode(text, { add_special_tokens: true });
  const plain = tokenizer.encode(text, { add_special_tokens: false });
  const decoded = plain.length === 0 ? "" : tokenizer.decode(plain, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  out.push(JSON.stringify({ ids, plain, decoded }));
}
process.stdout.write(out.join("\n") + "\n");
