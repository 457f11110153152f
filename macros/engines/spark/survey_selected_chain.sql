{#- Spark 3.5 has no WITH RECURSIVE. The chain is followed per account in
    one pass with a higher-order function instead: the account's pointers
    as an array (next_seq by account_seq, which runs 1..n without gaps),
    then `aggregate` over 1..n carrying the next seq to select; a seq equal
    to it is selected and moves it on to its own next_seq. Same rows as the
    recursive CTE; the work is linear in the account's candidates. -#}
{% macro spark__cx_with_recursive() -%}
{%- endmacro %}

{% macro spark__survey_selected_chain(pointers, self) -%}
    select
        account_id,
        explode(chain) as account_seq
    from (
        select
            account_id,
            aggregate(
                sequence(cast(1 as bigint), cast(size(next_seqs) as bigint)),
                named_struct('next_pick', cast(1 as bigint), 'chain', cast(array() as array<bigint>)),
                (state, seq) -> case
                    when seq = state.next_pick
                        then named_struct('next_pick', element_at(next_seqs, cast(seq as int)), 'chain', concat(state.chain, array(seq)))
                    else state
                end,
                state -> state.chain
            ) as chain
        from (
            select
                account_id,
                transform(
                    array_sort(collect_list(named_struct('account_seq', cast(account_seq as bigint), 'next_seq', cast(next_seq as bigint)))),
                    p -> p.next_seq
                ) as next_seqs
            from {{ pointers }}
            group by account_id
        ) as pointer_arrays
    ) as chains
{%- endmacro %}
