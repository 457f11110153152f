{#- The selected candidates of int_survey_selection: per account, the chain
    1 -> next_seq(1) -> next_seq(next_seq(1)) -> ... over `pointers`
    (account_id, account_seq, next_seq > account_seq), as the body of the
    CTE named `self` (account_id, account_seq). A next_seq past the
    account's last candidate matches no pointer: the chain ends. The default
    is a recursive CTE (the model's WITH carries cx_with_recursive()); Spark
    has no recursion (macros/engines/spark/survey_selected_chain.sql). -#}
{% macro survey_selected_chain(pointers, self) -%}
    {{ return(adapter.dispatch('survey_selected_chain', 'cx_warehouse')(pointers, self)) }}
{%- endmacro %}

{% macro default__survey_selected_chain(pointers, self) -%}
    select
        account_id,
        account_seq
    from {{ pointers }}
    where account_seq = 1
    union all
    select
        {{ pointers }}.account_id,
        {{ pointers }}.next_seq as account_seq
    from {{ self }}
    inner join {{ pointers }}
        on
            {{ self }}.account_id = {{ pointers }}.account_id
            and {{ self }}.account_seq = {{ pointers }}.account_seq
{%- endmacro %}

{#- The keyword a WITH needs for a recursive CTE (none where there is no recursion). -#}
{% macro cx_with_recursive() -%}
    {{ return(adapter.dispatch('cx_with_recursive', 'cx_warehouse')()) }}
{%- endmacro %}

{% macro default__cx_with_recursive() -%}
    recursive
{%- endmacro %}
