// Tokens -> syntax tree, following the reference engine's grammar and operator precedence (which differs
// from Python Jinja in places: `is` binds tighter than arithmetic, comparisons do not chain).
#pragma once

#include <vector>

#include "jinja/ast.h"
#include "jinja/lexer.h"

namespace hearth::jinja {

// Nesting deeper than this (blocks inside blocks, parentheses inside parentheses) is refused rather
// than risk the native stack on a hostile template.
inline constexpr int kMaxParseDepth = 128;

// Throws Error ("template syntax error at line N: ...").
NodeList parse(const std::vector<Token>& tokens);

}  // namespace hearth::jinja
