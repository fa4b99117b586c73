// Reference renderings for the chat-template tests: @huggingface/jinja (the Jinja port Hugging Face ships for
// chat templates). Reads a JSON array of {"template": "...", "context": {...}} from stdin and writes a JSON array
// of {"text": "..."} or {"error": "..."} in the same order.
import { readFileSync } from "node:fs";
import { Template } from "@huggingface/jinja";

const jobs = JSON.parse(readFileSync(0, "utf8"));
const compiled = new Map();
const results = jobs.map(({ template, context }) => {
  try {
    if (!compiled.has(template)) compiled.set(template, new Template(template));
    return { text: compiled.get(template).render(context) };
  } catch (e) {
    return { error: String(e?.message ?? e) };
  }
});
process.stdout.write(JSON.stringify(results));
