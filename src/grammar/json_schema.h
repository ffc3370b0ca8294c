// JSON Schema → GBNF, for structured output (OpenAI's response_format json_schema / json_object).
//
// The subset (docs/structured_output.md): type (object, array, string, number, integer, boolean, null, and
// lists of them), properties, required, additionalProperties, enum, const, items, minItems, maxItems,
// minLength, maxLength, anyOf, oneOf, $ref into $defs/definitions (recursion works), and string formats
// date, date-time, uuid, email. Annotations (title, description, default, examples, $schema, $id, $comment)
// are ignored. Any other keyword is an Error (unsupported) naming it and where it is: a grammar that quietly
// ignored `pattern` or `minimum` would produce output that fails validation.
//
// The grammar generates a subset of what the schema accepts, chosen so that a model cannot run on forever:
// properties come in the order the schema lists them; an object with `properties` gets no others (additional
// properties only for map-like objects that list none); whitespace between tokens is at most
// max_whitespace characters; numbers have at most 16 integer and 15 fraction digits and a two-digit exponent;
// strings and arrays without a maxLength/maxItems may be bounded by the options.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "grammar/grammar.h"

namespace hearth::grammar {

struct JsonGrammarOptions {
  int max_whitespace = 2;      // spaces/newlines/tabs allowed between two tokens
  int max_string_length = -1;  // for strings without maxLength (and no format); -1: unbounded
  int max_items = -1;          // for arrays (and map-like objects) without maxItems; -1: unbounded
};

// The GBNF text of a schema given as JSON text. Error: invalid argument for bad JSON or a malformed schema,
// unsupported for a keyword, type or format outside the subset.
std::string json_schema_to_gbnf(std::string_view schema, const JsonGrammarOptions& options = {});
// The GBNF text of any JSON object (response_format json_object).
std::string json_object_gbnf(const JsonGrammarOptions& options = {});

// The same, parsed.
std::shared_ptr<const Grammar> compile_json_schema(std::string_view schema, const JsonGrammarOptions& options = {});
std::shared_ptr<const Grammar> json_object_grammar(const JsonGrammarOptions& options = {});

}  // namespace hearth::grammar
