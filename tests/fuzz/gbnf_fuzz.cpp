// libFuzzer target for the grammar layer. The first byte picks what the rest is:
//   even: GBNF text. When it parses, the matcher runs over the first 256 bytes of the input as text (it must
//         neither crash nor loop; a grammar too ambiguous to follow may be refused as kResourceExhausted).
//   odd:  a JSON schema. When it compiles, the GBNF the compiler wrote must parse: a compiler output the
//         parser refuses is a bug, so that exception is left to escape (libFuzzer reports it).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/error.h"
#include "grammar/gbnf.h"
#include "grammar/json_schema.h"
#include "grammar/matcher.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] % 2 == 0) {
    std::shared_ptr<const hearth::grammar::Grammar> g;
    try {
      g = hearth::grammar::parse_gbnf(text);
    } catch (const hearth::Error&) {
      return 0;
    }
    try {
      hearth::grammar::Matcher m(g);
      for (size_t i = 0; i < text.size() && i < 256; ++i)
        if (!m.accept(char32_t(static_cast<unsigned char>(text[i])))) break;
      (void)m.can_end();
    } catch (const hearth::Error& e) {
      // The one refusal a parsed grammar may still give: too ambiguous to follow within the stack bound.
      if (e.kind() != hearth::ErrorKind::kResourceExhausted) throw;
    }
    return 0;
  }
  std::string gbnf;
  try {
    gbnf = hearth::grammar::json_schema_to_gbnf(text);
  } catch (const hearth::Error&) {
    return 0;
  }
  (void)hearth::grammar::parse_gbnf(gbnf);
  return 0;
}
