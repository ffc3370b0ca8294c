// libFuzzer target: arbitrary bytes (any UTF-8 validity) through the WordPiece and SentencePiece tokenizers,
// with and without special-token parsing, then back through decode and the streaming decoder. Token ids
// must stay inside the vocabulary, and decoding SentencePiece output must give valid UTF-8 input back (when
// no special token restarts the space prefix).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/utf8.h"
#include "formats/metadata.h"
#include "tokenizers/tokenizer.h"
#include "tokenizers/tiny_spm_vocab.h"

namespace {

using hearth::Metadata;
using hearth::Tokenizer;

std::unique_ptr<Tokenizer> make_wordpiece() {
  Metadata md;
  md.set_string("tokenizer.ggml.model", "bert");
  std::vector<std::string> toks = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "\xE2\x96\x81" "a",
                                   "\xE2\x96\x81" "ab", "b", "c", "\xE2\x96\x81.", "\xE2\x96\x81\xE6\x9D\xB1", "e"};
  std::vector<int32_t> types(toks.size(), 1);
  for (int i = 0; i < 5; ++i) types[size_t(i)] = 3;
  md.set_strings("tokenizer.ggml.tokens", toks);
  md.set_i32s("tokenizer.ggml.token_type", types);
  md.set_u32("tokenizer.ggml.unknown_token_id", 1);
  md.set_u32("tokenizer.ggml.cls_token_id", 2);
  md.set_u32("tokenizer.ggml.seperator_token_id", 3);
  return hearth::load_tokenizer(md, "fuzz-wordpiece");
}

std::unique_ptr<Tokenizer> make_spm() {
  std::vector<hearth::test::SpmPiece> pieces;
  float score = -1;
  for (const char* p : {"\xE2\x96\x81", "a", "b", "ab", "\xE2\x96\x81" "a", "\xE2\x96\x81" "ab", "aa", "ba", "<|u|>"})
    pieces.push_back({p, score -= 0.5f, std::string_view(p) == "<|u|>" ? 4 : 1});
  return hearth::load_tokenizer(hearth::test::tiny_spm_vocab(pieces), "fuzz-spm");
}

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto wordpiece = make_wordpiece();
  static const auto spm = make_spm();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const Tokenizer* tok : {wordpiece.get(), spm.get()}) {
    for (bool special : {false, true}) {
      const std::vector<int32_t> ids = tok->encode(text, special, special);
      for (int32_t id : ids) check(id >= 0 && id < tok->n_vocab());
      const std::string decoded = tok->decode(ids, special);
      // Byte fallback makes SPM lossless for valid UTF-8, except that text after a special token gets its
      // "▁" prefix. (An invalid lead byte swallows the next bytes whole, as llama.cpp's does, which can cut
      // an escaped space in two. A literal "▁" in the input is the escaped space itself and decodes as " ",
      // as it does in llama.cpp.)
      if (tok == spm.get() && !special && hearth::utf8_valid(text) && text.find("<|u|>") == std::string_view::npos &&
          text.find("\xE2\x96\x81") == std::string_view::npos)
        check(decoded == text);
      hearth::StreamDecoder stream(*tok);
      std::string streamed;
      for (int32_t id : ids) streamed += stream.push(id);
      streamed += stream.flush();
      if (tok == spm.get()) check(streamed == tok->decode(ids));
    }
  }
  return 0;
}
