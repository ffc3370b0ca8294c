// libFuzzer target: arbitrary Hugging Face tokenizer.json documents through hf::make_tokenizer, and each
// tokenizer that builds through encode, decode and token_to_piece. Anything malformed must be a hearth::Error;
// any other exception, crash, sanitizer report or hang is a finding.
//
// Input layout: the bytes before the first 0 byte are the tokenizer.json text; the bytes after it are the
// text to encode (any bytes, including more 0 bytes and invalid UTF-8). Without a 0 byte the whole input is
// the JSON and a fixed sample text is encoded. If the JSON's top level is an object with a
// "hearth_fuzz_config" member, that member is taken out and passed as tokenizer_config.json (otherwise the
// config is an empty object), so the bos/eos/add_*_token paths get fuzzed too.
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "tokenizers/hf/pipeline.h"
#include "tokenizers/tokenizer.h"

namespace {

constexpr std::string_view kSampleText = "Hello, world! It's 2024 \xC3\xA9t\xC3\xA9 <s> [CLS] \xE6\x9D\xB1  tabs\tand\nlines";

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* bytes = reinterpret_cast<const char*>(data);
  const void* nul = std::memchr(bytes, 0, size);
  const size_t json_len = nul ? size_t(static_cast<const char*>(nul) - bytes) : size;
  const std::string_view text = nul ? std::string_view(bytes + json_len + 1, size - json_len - 1) : kSampleText;

  nlohmann::json tokenizer = nlohmann::json::parse(bytes, bytes + json_len, nullptr, /*allow_exceptions=*/false);
  if (tokenizer.is_discarded()) return 0;
  nlohmann::json config = nlohmann::json::object();
  if (tokenizer.is_object() && tokenizer.contains("hearth_fuzz_config")) {
    config = tokenizer["hearth_fuzz_config"];
    tokenizer.erase("hearth_fuzz_config");
  }

  std::unique_ptr<hearth::Tokenizer> tok;
  try {
    tok = hearth::hf::make_tokenizer(tokenizer, config, "fuzz/tokenizer.json");
  } catch (const hearth::Error&) {
    return 0;
  }
  check(tok != nullptr);
  const int32_t n_vocab = tok->n_vocab();
  check(n_vocab >= 0);

  for (bool add_special : {false, true}) {
    for (bool parse_special : {false, true}) {
      std::vector<int32_t> ids;
      try {
        ids = tok->encode(text, add_special, parse_special);
      } catch (const hearth::Error&) {
        continue;  // e.g. WordLevel without an unk_token meeting an unknown word
      }
      for (int32_t id : ids) check(id >= 0 && id < n_vocab);
      for (bool render_special : {false, true}) {
        try {
          (void)tok->decode(ids, render_special);
        } catch (const hearth::Error&) {
        }
      }
      for (int32_t id : ids) {
        for (bool render_special : {false, true}) {
          try {
            (void)tok->token_to_piece(id, render_special);
          } catch (const hearth::Error&) {
          }
        }
      }
    }
  }
  return 0;
}
