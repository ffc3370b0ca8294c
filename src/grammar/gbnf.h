// The GBNF grammar syntax (llama.cpp's, as llama-server's `grammar` field takes it):
//   root ::= "{" ws pair ("," ws pair)* "}"     # comments run to the end of the line
//   pair ::= [a-z]+ ":" ws ( "true" | "false" )
//   ws   ::= [ \t\n]{0,4}
// Rules `name ::= alternatives`; `|` between alternatives; sequences; groups `( )`; postfix `*` `+` `?` and
// `{m}` `{m,}` `{m,n}`; string literals with escapes (\n \r \t \\ \" \xHH \uHHHH \UHHHHHHHH); character
// classes `[a-z]`, `[^"\\]`; `.` for any character. A rule ends at the end of its line unless inside a group
// or after a `|`. The start symbol is `root`.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "grammar/grammar.h"

namespace hearth::grammar {

// Error (invalid argument) with the line and column of the first fault.
std::shared_ptr<const Grammar> parse_gbnf(std::string_view text);

// The same grammar text with `prefix` in front of every rule name, defined or referenced (literals, classes,
// repetition counts and comments untouched), so several grammars can be pasted into one without their rules
// colliding: the old `root` becomes `<prefix>root`.
std::string prefix_rule_names(std::string_view text, std::string_view prefix);

}  // namespace hearth::grammar
