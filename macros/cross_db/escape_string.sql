{#- How the engine escapes a value inside a SQL string literal: replacement
    pairs [from, to], applied in order. The one place the rule is written;
    cx_escape_string and the literal lists below apply it. -#}
{% macro cx_string_escapes() -%}
    {{ return(adapter.dispatch('cx_string_escapes', 'cx_warehouse')()) }}
{%- endmacro %}

{% macro default__cx_string_escapes() -%}
    {{ return([["'", "''"]]) }}
{%- endmacro %}

{#- A value as the body of a SQL string literal (quotes escaped as the engine wants). -#}
{% macro cx_escape_string(value) -%}
    {%- set escaped = namespace(text=value | string) -%}
    {%- for pair in cx_string_escapes() -%}
        {%- set escaped.text = escaped.text | replace(pair[0], pair[1]) -%}
    {%- endfor -%}
    {{ return(escaped.text) }}
{%- endmacro %}

{#- Values as a comma-separated list of SQL string literals, each escaped:
    file paths and delivery names reach SQL only this way (or as bound
    parameters in Python), whatever characters they hold. -#}
{% macro cx_string_literals(values) -%}
    {{ return(cx_string_rows([values])[1:-1] if values else '') }}
{%- endmacro %}

{#- Rows of values as a comma-separated list of parenthesised tuples of SQL
    string literals, ('a', 'b'), ('c', 'd'): a VALUES list or an IN list of
    deliveries, a row per file. The intake lists thousands of files on every
    run, so the values are escaped together: joined by a separator, the
    engine's pairs applied once to the whole text, split again (DECISIONLOG
    134); when a value holds the separator itself, every value is escaped
    on its own (tests/singular/assert_string_literals_read_back.sql). -#}
{% macro cx_string_rows(rows) -%}
    {%- set separator = cx_string_rows_separator() -%}
    {%- set values = [] -%}
    {%- for row in rows -%}{%- do values.extend(row | map('string')) -%}{%- endfor -%}
    {%- set escaped = cx_escape_string(values | join(separator)).split(separator) -%}
    {%- if escaped | length != values | length -%}
        {%- set escaped = [] -%}
        {%- for value in values -%}{%- do escaped.append(cx_escape_string(value)) -%}{%- endfor -%}
    {%- endif -%}
    {%- set out = [] -%}
    {%- set at = namespace(i=0) -%}
    {%- for row in rows -%}
        {%- set literals = escaped[at.i:at.i + row | length] -%}
        {%- do out.append("('" ~ literals | join("', '") ~ "')" if literals else "()") -%}
        {%- set at.i = at.i + row | length -%}
    {%- endfor -%}
    {{ return(out | join(',\n')) }}
{%- endmacro %}

{#- What cx_string_rows joins values with: control characters no file name
    or CIS value is expected to hold (a value that does is still escaped
    right, one by one). -#}
{% macro cx_string_rows_separator() -%}
    {{ return('\x1f\x1ecx\x1e\x1f') }}
{%- endmacro %}
