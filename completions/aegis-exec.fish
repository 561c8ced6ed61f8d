function __aegis-exec_should_offer_completions_for_flags_or_options -a expected_commands
    set -l non_repeating_flags_or_options $argv[2..]
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __aegis-exec_parse_tokens
    test "$commands" = "$expected_commands"; and return $non_repeating_flags_or_options_absent
end

function __aegis-exec_should_offer_completions_for_positional -a expected_commands positional_index_comparison expected_positional_index
    set -l non_repeating_flags_or_options
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __aegis-exec_parse_tokens
    test "$commands" = "$expected_commands" -a \( "$positional_index" "$positional_index_comparison" "$expected_positional_index" \)
end

function __aegis-exec_parse_tokens -S
    set -l unparsed_tokens (__aegis-exec_tokens -pc)
    switch $unparsed_tokens[1]
    case 'aegis-exec'
        __aegis-exec_parse_subcommand 0 'policy=+' 'agent=' 'param=+' 'params=' 'c=' 'version' 'h/help'
        switch $unparsed_tokens[1]
        case 'init'
            __aegis-exec_parse_subcommand 1 'template=' 'list' 'version' 'h/help'
        case 'validate'
            __aegis-exec_parse_subcommand -r 1 'strict' 'version' 'h/help'
        case 'schema'
            __aegis-exec_parse_subcommand 0 'version' 'h/help'
        case 'simulate'
            __aegis-exec_parse_subcommand -r 1 'policy=+' 'agent=' 'param=+' 'params=' 'at=' 'json' 'version' 'h/help'
        case 'explain'
            __aegis-exec_parse_subcommand -r 1 'policy=+' 'agent=' 'param=+' 'params=' 'at=' 'json' 'c=' 'version' 'h/help'
        case 'audit'
            __aegis-exec_parse_subcommand 0 'version' 'h/help'
            switch $unparsed_tokens[1]
            case 'list'
                __aegis-exec_parse_subcommand 0 'db=' 'policy=+' 'session=' 'risk-level=' 'decision=' 'rule=' 'type=' 'since=' 'until=' 'limit=' 'format=' 'o/output=' 'tail' 'version' 'h/help'
            case 'verify'
                __aegis-exec_parse_subcommand 0 'db=' 'policy=+' 'version' 'h/help'
            case 'flush'
                __aegis-exec_parse_subcommand 0 'db=' 'policy=+' 'version' 'h/help'
            end
        case 'stats'
            __aegis-exec_parse_subcommand 0 'db=' 'policy=+' 'format=' 'version' 'h/help'
        case 'help'
            __aegis-exec_parse_subcommand -r 1 'version'
        end
    end
end

function __aegis-exec_tokens
    if test (string split -m 1 -f 1 -- . "$FISH_VERSION") -gt 3
        commandline --tokens-raw $argv
    else
        commandline -o $argv
    end
end

function __aegis-exec_parse_subcommand -S -a positional_count
    argparse -s r -- $argv
    set -l option_specs $argv[2..]
    set -l is_repeating_positional $_flag_r
    set -el _flag_r
    set -a commands $unparsed_tokens[1]
    set positional_index 0
    while true
        set -e unparsed_tokens[1]
        argparse -sn "$commands" $option_specs -- $unparsed_tokens 2> /dev/null
        set unparsed_tokens $argv
        set positional_index (math $positional_index + 1)
        for non_repeating_flag_or_option in $non_repeating_flags_or_options
            if set -ql "_flag_$(string replace -a - _ -- $non_repeating_flag_or_option)"
                set non_repeating_flags_or_options_absent 1
                break
            end
        end
        test (count $unparsed_tokens) -eq 0 -o \( -z "$is_repeating_positional" -a "$positional_index" -gt "$positional_count" \) && break
    end
end

function __aegis-exec_complete_directories
    set -l token (commandline -t)
    string match -- '*/' $token
    set -l subdirs $token*/
    printf %s\n $subdirs
end

function __aegis-exec_custom_completion
    set -x SAP_SHELL fish
    set -x SAP_SHELL_VERSION $FISH_VERSION
    set -l tokens (__aegis-exec_tokens -p)
    if test -z "$(__aegis-exec_tokens -t)"
        set -l index (count (__aegis-exec_tokens -pc))
        set tokens $tokens[..$index] \'\' $tokens[(math $index + 1)..]
    end
    command $tokens[1] $argv $tokens
end

complete -c 'aegis-exec' -f
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec"' -l 'policy' -d 'A policy file; repeat to merge files in order. Adds a layer: it can only make decisions stricter than the system and user policies.' -rfa '(set -l exts \'yaml\' \'yml\';for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.{$exts};printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec" agent' -l 'agent' -d 'The agent\'s id, matched by rules\' match.agent (self-declared; also AEGIS_AGENT).' -rfka ''
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec"' -l 'param' -d 'A param for conditions, KEY=VALUE (VALUE read as JSON number or boolean when it is one).' -rfka ''
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec" params' -l 'params' -d 'Params as a JSON object; types kept exactly.' -rfka ''
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec" c' -s 'c' -d 'Shell mode: judge every command in STRING, then run it with the shell.' -rfka ''
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec" version' -l 'version' -d 'Show the version.'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_positional "aegis-exec" -eq 1' -fa 'init' -d 'Write a commented starter policy (never overwrites a file).'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_positional "aegis-exec" -eq 1' -fa 'validate' -d 'Check policy files; report every problem as FILE:LINE:COLUMN: message.'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_positional "aegis-exec" -eq 1' -fa 'schema' -d 'Print the JSON Schema (draft 2020-12) of the policy format.'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_positional "aegis-exec" -eq 1' -fa 'simulate' -d 'Judge actions (TYPE:TARGET) without running anything.'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_positional "aegis-exec" -eq 1' -fa 'explain' -d 'Show how a command maps to an action, every rule considered, and the decision, without running it.'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_positional "aegis-exec" -eq 1' -fa 'audit' -d 'Show, export and verify the audit log.'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_positional "aegis-exec" -eq 1' -fa 'stats' -d 'Per rule: decisions, results and median run time.'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_positional "aegis-exec" -eq 1' -fa 'help' -d 'Show subcommand help information.'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec init" template' -l 'template' -d 'The template to start from.' -rfka 'default coding-agent read-only ci devops data-pipeline financial crm ecommerce healthcare support browser'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec init" list' -l 'list' -d 'List the templates and exit.'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_positional "aegis-exec init" -eq 1' -F
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec init" version' -l 'version' -d 'Show the version.'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec init" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec validate" strict' -l 'strict' -d 'Treat warnings as errors.'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_positional "aegis-exec validate" -ge 1' -fa '(set -l exts \'yaml\' \'yml\';for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.{$exts};printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec validate" version' -l 'version' -d 'Show the version.'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec validate" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec schema" version' -l 'version' -d 'Show the version.'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec schema" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec simulate"' -l 'policy' -d 'A policy file; repeat to merge files in order. Adds a layer: it can only make decisions stricter than the system and user policies.' -rfa '(set -l exts \'yaml\' \'yml\';for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.{$exts};printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec simulate" agent' -l 'agent' -d 'The agent\'s id, matched by rules\' match.agent (self-declared; also AEGIS_AGENT).' -rfka ''
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec simulate"' -l 'param' -d 'A param for conditions, KEY=VALUE (VALUE read as JSON number or boolean when it is one).' -rfka ''
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec simulate" params' -l 'params' -d 'Params as a JSON object; types kept exactly.' -rfka ''
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec simulate" at' -l 'at' -d 'Judge as if it were this time (ISO 8601, e.g. 2026-11-25T09:30:00Z; UTC when no offset).' -rfka ''
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec simulate" json' -l 'json' -d 'One JSON object per action, one per line.'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec simulate" version' -l 'version' -d 'Show the version.'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec simulate" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec explain"' -l 'policy' -d 'A policy file; repeat to merge files in order. Adds a layer: it can only make decisions stricter than the system and user policies.' -rfa '(set -l exts \'yaml\' \'yml\';for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.{$exts};printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec explain" agent' -l 'agent' -d 'The agent\'s id, matched by rules\' match.agent (self-declared; also AEGIS_AGENT).' -rfka ''
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec explain"' -l 'param' -d 'A param for conditions, KEY=VALUE (VALUE read as JSON number or boolean when it is one).' -rfka ''
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec explain" params' -l 'params' -d 'Params as a JSON object; types kept exactly.' -rfka ''
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec explain" at' -l 'at' -d 'Judge as if it were this time (ISO 8601, e.g. 2026-11-25T09:30:00Z; UTC when no offset).' -rfka ''
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec explain" json' -l 'json' -d 'Print one JSON object.'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec explain" c' -s 'c' -d 'A shell string to explain, judged as `aegis-exec -c` judges it: every command in it.' -rfka ''
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec explain" version' -l 'version' -d 'Show the version.'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec explain" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec audit" version' -l 'version' -d 'Show the version.'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec audit" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_positional "aegis-exec audit" -eq 1' -fa 'list' -d 'List audit rows, oldest first.'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_positional "aegis-exec audit" -eq 1' -fa 'verify' -d 'Check the audit log\'s hash chain; report the first edited, deleted or reordered row.'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_positional "aegis-exec audit" -eq 1' -fa 'flush' -d 'Move the records waiting in the spool into the audit table.'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec audit list" db' -l 'db' -d 'The audit database to read.' -rfa '(for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.\'db\';printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec audit list"' -l 'policy' -d 'Find the audit log as the gate does with these policies.' -rfa '(set -l exts \'yaml\' \'yml\';for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.{$exts};printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec audit list" session' -l 'session' -d 'Only this session.' -rfka ''
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec audit list" risk-level' -l 'risk-level' -d 'Only this risk level (low, medium, high, critical).' -rfka ''
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec audit list" decision' -l 'decision' -d 'Only this decision (auto, approve, block).' -rfka ''
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec audit list" rule' -l 'rule' -d 'Only rows decided by this rule.' -rfka ''
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec audit list" type' -l 'type' -d 'Only this action type (a glob).' -rfka ''
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec audit list" since' -l 'since' -d 'From this time (ISO 8601).' -rfka ''
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec audit list" until' -l 'until' -d 'Before this time (ISO 8601).' -rfka ''
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec audit list" limit' -l 'limit' -d 'At most this many (the newest).' -rfka ''
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec audit list" format' -l 'format' -d 'table, json, jsonl or csv.' -rfka 'table json jsonl csv'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec audit list" o output' -l 'output' -s 'o' -d 'Write to this file instead of standard output.' -rF
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec audit list" tail' -l 'tail' -d 'Keep printing new rows as they are written (every second).'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec audit list" version' -l 'version' -d 'Show the version.'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec audit list" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec audit verify" db' -l 'db' -d 'The audit database to read.' -rfa '(for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.\'db\';printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec audit verify"' -l 'policy' -d 'Find the audit log as the gate does with these policies.' -rfa '(set -l exts \'yaml\' \'yml\';for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.{$exts};printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec audit verify" version' -l 'version' -d 'Show the version.'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec audit verify" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec audit flush" db' -l 'db' -d 'The audit database to read.' -rfa '(for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.\'db\';printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec audit flush"' -l 'policy' -d 'Find the audit log as the gate does with these policies.' -rfa '(set -l exts \'yaml\' \'yml\';for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.{$exts};printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec audit flush" version' -l 'version' -d 'Show the version.'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec audit flush" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec stats" db' -l 'db' -d 'The audit database to read.' -rfa '(for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.\'db\';printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec stats"' -l 'policy' -d 'Find the audit log as the gate does with these policies.' -rfa '(set -l exts \'yaml\' \'yml\';for p in (string match -e -- \'*/\' (commandline -t);or printf \n)*.{$exts};printf %s\n $p;end;__fish_complete_directories (commandline -t) \'\')'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec stats" format' -l 'format' -d 'table or json.' -rfka 'table json jsonl csv'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec stats" version' -l 'version' -d 'Show the version.'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec stats" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'aegis-exec' -n '__aegis-exec_should_offer_completions_for_flags_or_options "aegis-exec help" version' -l 'version' -d 'Show the version.'
