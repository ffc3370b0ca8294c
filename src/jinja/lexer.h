// Template source -> tokens, with the whitespace handling of the reference engine: one trailing newline
// dropped, lstrip_blocks and trim_blocks always on (what transformers renders with), {%- -%} {{- -}} {#- -#}
// trimming, and {% generation %} markers removed.
#pragma once

#include <string>
#include <vector>

namespace hearth::jinja {

enum class Tok {
  Text, Number, String, Identifier, Equals, OpenParen, CloseParen, OpenStatement, CloseStatement,
  OpenExpression, CloseExpression, OpenSquare, CloseSquare, OpenCurly, CloseCurly, Comma, Dot, Colon, Pipe,
  Additive, Multiplicative, Power, Comparison, Unary, Comment,
};

struct Token {
  Tok type;
  std::string value;
  int line;  // 1-based line in the original template source
};

const char* tok_name(Tok t);

// Throws Error ("template syntax error at line N: ...") on malformed input (including invalid UTF-8).
std::vector<Token> tokenize(const std::string& source);

}  // namespace hearth::jinja
