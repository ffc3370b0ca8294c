// Hugging Face pre-tokenizers (tokenizer.json "pre_tokenizer"), with the semantics of the Rust `tokenizers`
// library: each type re-splits the pieces it receives, and most of them are one NormalizedString::split with a
// pattern and a SplitDelimiterBehavior. That split is reproduced exactly: the pattern yields the whole piece
// as alternating (range, is_match) segments, the behavior folds them into kept ranges, empty ranges are
// dropped.
//
// Regexes. Rust compiles Split / ByteLevel regexes with Oniguruma (Ruby syntax, UTF-8) and the Whitespace
// regex with the `regex` crate; here everything runs on PCRE2 (UTF + UCP + MATCH_INVALID_UTF, so invalid
// UTF-8 bytes never match and never fail). Where the engines disagree, the HF regex is rewritten to mean what
// it means to Oniguruma before it is compiled (onig_to_pcre2; each point was checked against tokenizers 0.23):
//   - \s: Oniguruma = [\t\n\v\f\r\x85\p{Z}]; PCRE2 UCP lacks U+0085. (The `regex` crate's \s, White_Space,
//     has U+0085 too; JavaScript's \s lacks it but has U+FEFF, so transformers.js differs there.)
//   - \w: Oniguruma = Alphabetic + M + N + Pc, and inside a bracket class Alphabetic + M + Nd + Pc; PCRE2 10.42
//     UCP = L + N + '_'. \b follows each engine's \w. \h: a hex digit in Oniguruma, horizontal space in PCRE2.
//     \uHHHH: a code point in Oniguruma, an error in PCRE2. [:alpha:] [:punct:] ... and \p{Alpha} \p{Punct} ...
//     have Oniguruma's (Unicode property) meanings, which PCRE2 lacks or defines otherwise.
//   - \p{Han} and other script names: Oniguruma = the Script property; PCRE2 >= 10.40 = Script_Extensions.
//   - ^ and $ are line anchors in Ruby syntax: PCRE2_MULTILINE, with LF as the only newline.
//   - (?i:'s|'t|'re|'ve|'m|'ll|'d) is spelled with ASCII classes, so U+017F (long s) does not match 's'. This
//     follows transformers.js and llama.cpp, the project's parity references, not Oniguruma: HF Rust does
//     fold it ("x'\u017ft" is "x", "'\u017f", "t" there and "x", "'\u017ft" here).
//   Not translated (PCRE2's meaning kept): \S \W \H and [:^name:] inside a bracket class, other (?i) folding,
//   Oniguruma's nested classes and && intersections, Oniguruma-only syntax (a compile error, so an Error).
//   Unicode versions differ too (PCRE2 10.42 has Unicode 14).
// Empty matches are iterated the way the onig crate's find_iter does (an empty match right after a
// non-empty one is skipped, each step advances one character), so patterns that can match "" split where
// Rust splits: an empty String pattern cuts between every character.
#include "tokenizers/hf/components.h"

#include <nlohmann/json.hpp>
#include <utf8proc.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/utf8.h"
#include "tokenizers/bpe.h"

namespace hearth::hf {

namespace {

using nlohmann::json;

// ---------------------------------------------------------------------------------------------------------
// UTF-8

struct Char {
  char32_t cp = 0;
  int len = 1;
  bool valid = false;  // false: one invalid byte (len 1), which no character test matches
};

Char char_at(std::string_view s, size_t i) {
  char32_t cp = 0;
  const int len = utf8_next(s, i, cp);
  return len > 0 ? Char{cp, len, true} : Char{};
}

// Rust's char::is_whitespace: the White_Space property.
bool is_white_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

// BERT's punctuation (tokenizers' is_bert_punc / is_punc): ASCII punctuation, which includes symbols such as
// $ + < = > ^ ` | ~, or any Unicode P* category.
bool is_punctuation(char32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return true;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
      return true;
    default:
      return false;
  }
}

// Rust's char::is_numeric: Nd, Nl or No.
bool is_numeric(char32_t c) {
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return true;
    default:
      return false;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Regexes

// Unicode script names as PCRE2 spells them (Unicode 15; ones the linked PCRE2 does not know are skipped).
constexpr const char* kScripts[] = {
    "Adlam", "Ahom", "Anatolian_Hieroglyphs", "Arabic", "Armenian", "Avestan", "Balinese", "Bamum", "Bassa_Vah",
    "Batak", "Bengali", "Bhaiksuki", "Bopomofo", "Brahmi", "Braille", "Buginese", "Buhid", "Canadian_Aboriginal",
    "Carian", "Caucasian_Albanian", "Chakma", "Cham", "Cherokee", "Chorasmian", "Common", "Coptic", "Cuneiform",
    "Cypriot", "Cypro_Minoan", "Cyrillic", "Deseret", "Devanagari", "Dives_Akuru", "Dogra", "Duployan",
    "Egyptian_Hieroglyphs", "Elbasan", "Elymaic", "Ethiopic", "Georgian", "Glagolitic", "Gothic", "Grantha",
    "Greek", "Gujarati", "Gunjala_Gondi", "Gurmukhi", "Han", "Hangul", "Hanifi_Rohingya", "Hanunoo", "Hatran",
    "Hebrew", "Hiragana", "Imperial_Aramaic", "Inherited", "Inscriptional_Pahlavi", "Inscriptional_Parthian",
    "Javanese", "Kaithi", "Kannada", "Katakana", "Kawi", "Kayah_Li", "Kharoshthi", "Khitan_Small_Script", "Khmer",
    "Khojki", "Khudawadi", "Lao", "Latin", "Lepcha", "Limbu", "Linear_A", "Linear_B", "Lisu", "Lycian", "Lydian",
    "Mahajani", "Makasar", "Malayalam", "Mandaic", "Manichaean", "Marchen", "Masaram_Gondi", "Medefaidrin",
    "Meetei_Mayek", "Mende_Kikakui", "Meroitic_Cursive", "Meroitic_Hieroglyphs", "Miao", "Modi", "Mongolian",
    "Mro", "Multani", "Myanmar", "Nabataean", "Nag_Mundari", "Nandinagari", "New_Tai_Lue", "Newa", "Nko", "Nushu",
    "Nyiakeng_Puachue_Hmong", "Ogham", "Ol_Chiki", "Old_Hungarian", "Old_Italic", "Old_North_Arabian",
    "Old_Permic", "Old_Persian", "Old_Sogdian", "Old_South_Arabian", "Old_Turkic", "Old_Uyghur", "Oriya", "Osage",
    "Osmanya", "Pahawh_Hmong", "Palmyrene", "Pau_Cin_Hau", "Phags_Pa", "Phoenician", "Psalter_Pahlavi", "Rejang",
    "Runic", "Samaritan", "Saurashtra", "Sharada", "Shavian", "Siddham", "SignWriting", "Sinhala", "Sogdian",
    "Sora_Sompeng", "Soyombo", "Sundanese", "Syloti_Nagri", "Syriac", "Tagalog", "Tagbanwa", "Tai_Le", "Tai_Tham",
    "Tai_Viet", "Takri", "Tamil", "Tangsa", "Tangut", "Telugu", "Thaana", "Thai", "Tibetan", "Tifinagh", "Tirhuta",
    "Toto", "Ugaritic", "Vai", "Vithkuqi", "Wancho", "Warang_Citi", "Yezidi", "Yi", "Zanabazar_Square", "Unknown",
};

// Unicode loose matching of property names: case, spaces, hyphens and underscores do not count.
std::string loose(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c == ' ' || c == '-' || c == '_') continue;
    out += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  }
  return out;
}

bool is_script_name(std::string_view name) {
  const std::string l = loose(name);
  for (const char* s : kScripts)
    if (loose(s) == l) return true;
  return false;
}

// Oniguruma's classes (as Rust's onig crate builds it, checked against tokenizers 0.23), as class contents.
// \x0B, not \v: inside a PCRE2 class \v is "any vertical space". Oniguruma's \w has other numbers (U+00BD)
// outside a bracket class but not inside one; Alphabetic covers all letters plus e.g. U+24B6 and U+2167.
constexpr std::string_view kOnigSpace = R"(\t\n\x0B\f\r\x{85}\p{Z})";
constexpr std::string_view kOnigWord = R"(\p{Alphabetic}\p{M}\p{N}\p{Pc})";
constexpr std::string_view kOnigClassWord = R"(\p{Alphabetic}\p{M}\p{Nd}\p{Pc})";
constexpr std::string_view kOnigHex = "0-9a-fA-F";

// Oniguruma's POSIX bracket and property names for the same classes ([:alpha:], \p{Alpha}, ...), which
// PCRE2 either lacks or defines otherwise. Lower case, as compared after loose().
struct NamedClass {
  std::string_view name, body;
};
constexpr NamedClass kOnigNamed[] = {
    {"alpha", R"(\p{Alphabetic})"},
    {"alnum", R"(\p{Alphabetic}\p{Nd})"},
    {"digit", R"(\p{Nd})"},
    {"lower", R"(\p{Lowercase})"},
    {"punct", R"(\p{P}\p{S})"},  // as a property, \p{Punct} is \p{P} alone
    {"space", kOnigSpace},
    {"upper", R"(\p{Uppercase})"},
    {"word", kOnigClassWord},
    {"xdigit", kOnigHex},
};

const NamedClass* onig_named(std::string_view name) {
  const std::string l = loose(name);
  for (const NamedClass& nc : kOnigNamed)
    if (nc.name == l) return &nc;
  return nullptr;
}

// The class for \p{name} (not [:name:]), which differs for two names.
std::string_view onig_property_body(const NamedClass& nc, bool in_class) {
  if (nc.name == "punct") return R"(\p{P})";
  if (nc.name == "word" && !in_class) return kOnigWord;
  return nc.body;
}

// See the file comment: the ASCII spelling is a deliberate choice of transformers.js's behaviour over HF Rust's.
constexpr std::string_view kCaselessContractions = "(?i:'s|'t|'re|'ve|'m|'ll|'d)";
constexpr std::string_view kAsciiContractions = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// Rewrites an Oniguruma (Ruby syntax) regex from tokenizer.json into a PCRE2 regex with the same matches; see
// the file comment for what is and is not translated.
std::string onig_to_pcre2(std::string re) {
  for (size_t pos; (pos = re.find(kCaselessContractions)) != std::string::npos;)
    re.replace(pos, kCaselessContractions.size(), kAsciiContractions);

  std::string out;
  out.reserve(re.size() + 64);
  bool in_class = false;
  bool class_start = false;  // right after '[' or '[^', where ']' is a literal
  auto put_class = [&](std::string_view body, bool negated) {
    if (in_class && !negated) {
      out += body;
    } else {
      out += negated ? "[^" : "[";
      out += body;
      out += ']';
    }
  };
  for (size_t i = 0; i < re.size(); ++i) {
    const char c = re[i];
    if (c == '\\' && i + 1 < re.size()) {
      const char d = re[++i];
      class_start = false;
      switch (d) {
        case 's': put_class(kOnigSpace, false); continue;
        case 'w': put_class(in_class ? kOnigClassWord : kOnigWord, false); continue;
        case 'h': put_class(kOnigHex, false); continue;
        case 'S':
        case 'W':
        case 'H':
          if (in_class) break;  // no complement inside a PCRE2 class: keep PCRE2's own
          put_class(d == 'S' ? kOnigSpace : d == 'W' ? kOnigWord : kOnigHex, true);
          continue;
        case 'b':
        case 'B':
          if (in_class) break;  // backspace
          {
            // A word boundary by Oniguruma's \w, which PCRE2's \b (its own \w) does not follow.
            const std::string w = "[" + std::string(kOnigWord) + "]";
            out += d == 'b' ? "(?:(?<=" + w + ")(?!" + w + ")|(?<!" + w + ")(?=" + w + "))"
                            : "(?:(?<=" + w + ")(?=" + w + ")|(?<!" + w + ")(?!" + w + "))";
          }
          continue;
        case 'u':
          if (i + 4 < re.size() && is_hex(re[i + 1]) && is_hex(re[i + 2]) && is_hex(re[i + 3]) && is_hex(re[i + 4])) {
            out += "\\x{" + re.substr(i + 1, 4) + "}";
            i += 4;
            continue;
          }
          break;
        case 'p':
        case 'P':
          if (i + 1 < re.size() && re[i + 1] == '{') {
            const size_t close = re.find('}', i + 2);
            if (close != std::string::npos) {
              std::string name = re.substr(i + 2, close - i - 2);
              const bool caret = !name.empty() && name[0] == '^';
              if (caret) name.erase(0, 1);
              if (is_script_name(name)) {
                out += '\\';
                out += d;
                out += caret ? "{^sc:" : "{sc:";
                out += name;
                out += '}';
                i = close;
                continue;
              }
              const bool negated = caret != (d == 'P');
              if (const NamedClass* nc = onig_named(name); nc && !(negated && in_class)) {
                put_class(onig_property_body(*nc, in_class), negated);
                i = close;
                continue;
              }
            }
          }
          break;
        default:
          break;
      }
      out += '\\';
      out += d;
      continue;
    }
    if (in_class) {
      if (c == '[' && i + 1 < re.size() && re[i + 1] == ':') {  // [:alpha:] and friends
        const size_t close = re.find(":]", i + 2);
        if (close != std::string::npos) {
          const NamedClass* nc = onig_named(std::string_view(re).substr(i + 2, close - i - 2));
          if (nc)
            out += nc->body;
          else
            out.append(re, i, close + 2 - i);  // [:^alpha:], [:cntrl:], ...: PCRE2's meaning
          i = close + 1;
          class_start = false;
          continue;
        }
      }
      if (c == ']' && !class_start) in_class = false;
      out += c;
      class_start = false;
      continue;
    }
    out += c;
    if (c == '[') {
      in_class = class_start = true;
      if (i + 1 < re.size() && re[i + 1] == '^') out += re[++i];
    }
  }
  return out;
}

// A literal as a PCRE2 pattern: every ASCII punctuation character escaped (always literal in PCRE2).
std::string regex_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x80 && !((u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z'))) out += '\\';
    out += c;
  }
  return out;
}

struct Span {
  size_t begin, end;
};

class Regex {
 public:
  // `pattern` is PCRE2 syntax; `what` names it in errors.
  Regex(const std::string& pattern, const std::string& what) : pattern_(pattern), what_(what) {
    std::unique_ptr<pcre2_compile_context, void (*)(pcre2_compile_context*)> ctx(pcre2_compile_context_create(nullptr),
                                                                                 pcre2_compile_context_free);
    if (!ctx) fail(ErrorKind::kResourceExhausted, "{}: out of memory", what);
    pcre2_set_newline(ctx.get(), PCRE2_NEWLINE_LF);
    int err = 0;
    PCRE2_SIZE off = 0;
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                          PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_MULTILINE, &err, &off, ctx.get());
    if (code_ == nullptr) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      fail(ErrorKind::kCorruptData, "{}: regex '{}' does not compile at offset {}: {}", what, pattern,
           static_cast<size_t>(off), reinterpret_cast<const char*>(msg));
    }
    pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE);  // only a speed-up: the interpreter gives the same matches
  }
  ~Regex() { pcre2_code_free(code_); }
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  using MatchData = std::unique_ptr<pcre2_match_data, void (*)(pcre2_match_data*)>;
  MatchData match_data() const {
    MatchData md(pcre2_match_data_create_from_pattern(code_, nullptr), pcre2_match_data_free);
    if (!md) fail(ErrorKind::kResourceExhausted, "{}: out of memory", what_);
    return md;
  }

  // The first match at or after `from`: false if none; else its span and PCRE2's return code (one more than
  // the highest capture group set).
  bool find(std::string_view s, size_t from, pcre2_match_data* md, Span& m, int* rc_out = nullptr) const {
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(s.data());
    int rc = pcre2_match(code_, subject, s.size(), from, 0, md, nullptr);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)  // deep backtracking: the interpreter keeps its frames on the heap
      rc = pcre2_match(code_, subject, s.size(), from, PCRE2_NO_JIT, md, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) return false;
    if (rc < 0) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof msg);
      fail(ErrorKind::kResourceExhausted, "{}: regex '{}' failed on a {}-byte text: {}", what_, pattern_, s.size(),
           reinterpret_cast<const char*>(msg));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    m.begin = ov[0];
    m.end = ov[1] < ov[0] ? ov[0] : ov[1];  // \K games can end a match before its start
    if (rc_out) *rc_out = rc;
    return true;
  }

  // All matches, iterated like the onig crate's FindMatches (what HF's SysRegex::find_iter is): after each
  // match the search resumes at its end; an empty match also steps one character, and is dropped when it
  // comes right after a non-empty match.
  void find_all(std::string_view s, pcre2_match_data* md, std::vector<Span>& out) const {
    size_t last_end = 0;
    bool skip_next_empty = false;
    Span m{};
    while (last_end <= s.size() && find(s, last_end, md, m)) {
      last_end = m.end;
      if (m.begin == m.end) {
        last_end += last_end < s.size() ? static_cast<size_t>(char_at(s, last_end).len) : 1;
        if (skip_next_empty) {
          skip_next_empty = false;
          continue;
        }
      } else {
        skip_next_empty = true;
      }
      out.push_back(m);
    }
  }

 private:
  pcre2_code* code_ = nullptr;
  std::string pattern_, what_;
};

// ---------------------------------------------------------------------------------------------------------
// HF's NormalizedString::split

enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

struct Segment {
  size_t begin, end;
  bool match;
};

// Pattern::find_matches for a regex: matches and the gaps between them, covering the whole text.
void regex_segments(const Regex& re, pcre2_match_data* md, std::string_view s, std::vector<Span>& scratch,
                    std::vector<Segment>& out) {
  scratch.clear();
  re.find_all(s, md, scratch);
  size_t prev = 0;
  for (const Span& m : scratch) {
    if (prev != m.begin) out.push_back({prev, m.begin, false});
    out.push_back({m.begin, m.end, true});
    prev = m.end;
  }
  if (prev != s.size()) out.push_back({prev, s.size(), false});
}

// Pattern::find_matches for a character predicate: every matching character is its own match. Invalid bytes
// never match.
template <typename Pred>
void char_segments(std::string_view s, const Pred& pred, std::vector<Segment>& out) {
  size_t last = 0;
  for (size_t i = 0; i < s.size();) {
    const Char c = char_at(s, i);
    if (c.valid && pred(c.cp)) {
      if (last < i) out.push_back({last, i, false});
      out.push_back({i, i + c.len, true});
      last = i + c.len;
    }
    i += c.len;
  }
  if (last < s.size()) out.push_back({last, s.size(), false});
}

// The folds of NormalizedString::split, kept ranges in order (some possibly empty).
void apply_behavior(const std::vector<Segment>& segs, Behavior b, std::vector<Span>& out) {
  bool prev = false;
  switch (b) {
    case Behavior::Isolated:
      for (const Segment& s : segs) out.push_back({s.begin, s.end});
      break;
    case Behavior::Removed:
      for (const Segment& s : segs)
        if (!s.match) out.push_back({s.begin, s.end});
      break;
    case Behavior::Contiguous:  // consecutive segments of the same kind become one
      for (const Segment& s : segs) {
        if (s.match == prev && !out.empty())
          out.back().end = s.end;
        else
          out.push_back({s.begin, s.end});
        prev = s.match;
      }
      break;
    case Behavior::MergedWithPrevious:  // the first of consecutive matches joins the piece before it
      for (const Segment& s : segs) {
        if (s.match && !prev && !out.empty())
          out.back().end = s.end;
        else
          out.push_back({s.begin, s.end});
        prev = s.match;
      }
      break;
    case Behavior::MergedWithNext: {  // the same, scanning backwards: the last of consecutive matches joins the next
      const size_t first = out.size();
      for (size_t i = segs.size(); i-- > 0;) {
        const Segment& s = segs[i];
        if (s.match && !prev && out.size() > first)
          out.back().begin = s.begin;
        else
          out.push_back({s.begin, s.end});
        prev = s.match;
      }
      std::reverse(out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
      break;
    }
  }
}

void invert(std::vector<Segment>& segs) {
  for (Segment& s : segs) s.match = !s.match;
}

// ---------------------------------------------------------------------------------------------------------
// Stages

// What a stage knows besides the pieces. `origin`: pieces[0] still begins at the first character of the
// section (HF's `offsets_original().0 == 0`, which Metaspace's prepend_scheme "first" tests); a stage that
// drops the start of the first piece clears it.
struct Context {
  size_t section;
  bool origin;
};

class Stage : public PreTokenizer {
 public:
  void split(std::vector<std::string>& pieces, size_t section) const final {
    Context ctx{section, section == 0};
    run(pieces, ctx);
  }
  virtual void run(std::vector<std::string>& pieces, Context& ctx) const = 0;
};

// Replaces every piece by the ranges `cut(piece, ranges)` keeps, dropping empty ones.
template <typename Cut>
void resplit(std::vector<std::string>& pieces, Context& ctx, const Cut& cut) {
  std::vector<std::string> out;
  out.reserve(pieces.size());
  std::vector<Span> ranges;
  for (size_t i = 0; i < pieces.size(); ++i) {
    ranges.clear();
    cut(std::string_view(pieces[i]), ranges);
    const size_t n = pieces[i].size();
    for (const Span& r : ranges) {
      if (r.end <= r.begin) continue;
      if (out.empty() && (i != 0 || r.begin != 0)) ctx.origin = false;
      if (r.begin == 0 && r.end == n)
        out.push_back(std::move(pieces[i]));  // the only non-empty range: nothing else reads the piece
      else
        out.emplace_back(pieces[i], r.begin, r.end - r.begin);
    }
  }
  if (out.empty()) ctx.origin = false;
  pieces.swap(out);
}

// HF never yields an empty piece, even from a stage that does not split (an empty text).
void drop_empty(std::vector<std::string>& pieces, Context& ctx) {
  if (!pieces.empty() && pieces[0].empty()) ctx.origin = false;
  std::erase_if(pieces, [](const std::string& p) { return p.empty(); });
}

class Sequence final : public Stage {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Stage>> stages) : stages_(std::move(stages)) {}
  void run(std::vector<std::string>& pieces, Context& ctx) const override {
    for (const auto& s : stages_) s->run(pieces, ctx);
  }

 private:
  std::vector<std::unique_ptr<Stage>> stages_;
};

// Split, and Whitespace (a fixed regex, inverted, Removed).
class RegexSplit final : public Stage {
 public:
  RegexSplit(std::shared_ptr<const Regex> re, Behavior behavior, bool inverted)
      : re_(std::move(re)), behavior_(behavior), invert_(inverted) {}
  void run(std::vector<std::string>& pieces, Context& ctx) const override {
    auto md = re_->match_data();
    std::vector<Span> scratch;
    std::vector<Segment> segs;
    resplit(pieces, ctx, [&](std::string_view p, std::vector<Span>& ranges) {
      segs.clear();
      regex_segments(*re_, md.get(), p, scratch, segs);
      if (invert_) invert(segs);
      apply_behavior(segs, behavior_, ranges);
    });
  }

 private:
  std::shared_ptr<const Regex> re_;
  Behavior behavior_;
  bool invert_;
};

// WhitespaceSplit, Punctuation, Digits, CharDelimiterSplit and the two halves of BertPreTokenizer.
class CharSplit final : public Stage {
 public:
  CharSplit(std::function<bool(char32_t)> pred, Behavior behavior) : pred_(std::move(pred)), behavior_(behavior) {}
  void run(std::vector<std::string>& pieces, Context& ctx) const override {
    std::vector<Segment> segs;
    resplit(pieces, ctx, [&](std::string_view p, std::vector<Span>& ranges) {
      segs.clear();
      char_segments(p, pred_, segs);
      apply_behavior(segs, behavior_, ranges);
    });
  }

 private:
  std::function<bool(char32_t)> pred_;
  Behavior behavior_;
};

// GPT-2's byte-to-unicode alphabet, each byte's character already UTF-8 encoded.
const std::array<std::string, 256>& byte_alphabet() {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> t;
    for (int b = 0; b < 256; ++b) utf8_append(t[b], bpe_byte_to_codepoint(static_cast<uint8_t>(b)));
    return t;
  }();
  return table;
}

class ByteLevel final : public Stage {
 public:
  ByteLevel(bool add_prefix_space, std::shared_ptr<const Regex> re)  // re: null when use_regex is false
      : add_prefix_space_(add_prefix_space) {
    if (re) split_.emplace(std::move(re), Behavior::Isolated, false);
  }
  void run(std::vector<std::string>& pieces, Context& ctx) const override {
    // The prefix space goes on every piece this stage receives (Rust); transformers.js adds it once per text.
    drop_empty(pieces, ctx);
    if (add_prefix_space_)
      for (std::string& p : pieces)
        if (p[0] != ' ') p.insert(p.begin(), ' ');
    if (split_) split_->run(pieces, ctx);
    const auto& alphabet = byte_alphabet();
    std::string mapped;
    for (std::string& p : pieces) {
      mapped.clear();
      for (char c : p) mapped += alphabet[static_cast<unsigned char>(c)];
      p.swap(mapped);
    }
  }

 private:
  bool add_prefix_space_;
  std::optional<RegexSplit> split_;  // use_regex: GPT-2's regex, matches isolated
};

enum class Prepend { Always, First, Never };

class Metaspace final : public Stage {
 public:
  Metaspace(char32_t replacement, Prepend prepend, bool split)
      : replacement_(replacement), prepend_(prepend), split_(split) {
    utf8_append(rep_, replacement);
  }
  void run(std::vector<std::string>& pieces, Context& ctx) const override {
    drop_empty(pieces, ctx);
    for (size_t i = 0; i < pieces.size(); ++i) {
      std::string& p = pieces[i];
      std::string replaced;
      replaced.reserve(p.size() + rep_.size());
      for (char c : p) {
        if (c == ' ')
          replaced += rep_;
        else
          replaced += c;
      }
      const bool starts = replaced.compare(0, rep_.size(), rep_) == 0;
      // "first": only the piece that starts the text (Rust tests its original offset, not the piece index).
      if (!starts && (prepend_ == Prepend::Always || (prepend_ == Prepend::First && i == 0 && ctx.origin)))
        replaced.insert(0, rep_);
      p.swap(replaced);
    }
    if (!split_) return;
    std::vector<Segment> segs;
    const char32_t rep = replacement_;
    resplit(pieces, ctx, [&](std::string_view p, std::vector<Span>& ranges) {
      segs.clear();
      char_segments(p, [rep](char32_t c) { return c == rep; }, segs);
      apply_behavior(segs, Behavior::MergedWithNext, ranges);
    });
  }

 private:
  char32_t replacement_;
  std::string rep_;
  Prepend prepend_;
  bool split_;
};

// Scripts from PCRE2's Unicode tables. HF's own table (from SentencePiece, Unicode ~9) differs for characters
// assigned since: HF calls them "Any" (no split), PCRE2 knows their script (Unknown = unassigned is "Any"
// here too). Invalid UTF-8 bytes form a script of their own.
class UnicodeScripts final : public Stage {
 public:
  UnicodeScripts() {
    // One alternative per script, each a capture group, so a match is a maximal run of one script and PCRE2's
    // return code names it. Fixed up as HF's fixed_script does: ' ' is "Any"; Hiragana, Katakana and U+30FC
    // (the prolonged sound mark, Common) count as Han.
    std::string pattern = "( +)|((?:[\\x{30FC}\\p{sc:Han}\\p{sc:Hiragana}\\p{sc:Katakana}])+)";
    int group = 2;
    for (const char* s : kScripts) {
      const std::string name = s;
      if (name == "Han" || name == "Hiragana" || name == "Katakana") continue;
      const std::string cls = name == "Common" ? "[^ \\x{30FC}\\P{sc:Common}]" : "\\p{sc:" + name + "}";
      if (!pcre2_knows(cls)) continue;
      pattern += "|(" + cls + "+)";
      ++group;
      if (name == "Unknown") unknown_group_ = group;
    }
    re_ = std::make_unique<Regex>(pattern, "pre_tokenizer UnicodeScripts");
  }

  void run(std::vector<std::string>& pieces, Context& ctx) const override {
    auto md = re_->match_data();
    resplit(pieces, ctx, [&](std::string_view p, std::vector<Span>& ranges) {
      // HF: a range starts at each non-Any character whose script differs from the last non-Any one; what
      // precedes the first such character (leading spaces) is dropped.
      int last = 0;  // 0: none yet
      auto run_of = [&](size_t begin, int script) {
        if (script == kAny || script == unknown_group_) return;
        if (script != last) {
          if (!ranges.empty()) ranges.back().end = begin;
          ranges.push_back({begin, p.size()});
        }
        last = script;
      };
      Span m{};
      int rc = 0;
      for (size_t pos = 0; pos < p.size();) {
        if (!re_->find(p, pos, md.get(), m, &rc)) {
          run_of(pos, kInvalid);
          break;
        }
        if (m.begin > pos) run_of(pos, kInvalid);
        run_of(m.begin, rc - 1);
        pos = m.end > m.begin ? m.end : m.begin + 1;
      }
    });
  }

 private:
  static constexpr int kAny = 1;       // group 1: spaces
  static constexpr int kInvalid = -1;  // bytes no script matches
  static bool pcre2_knows(const std::string& cls) {
    int err = 0;
    PCRE2_SIZE off = 0;
    pcre2_code* c = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(cls.data()), cls.size(), PCRE2_UTF | PCRE2_UCP, &err,
                                  &off, nullptr);
    pcre2_code_free(c);
    return c != nullptr;
  }
  std::unique_ptr<Regex> re_;
  int unknown_group_ = -2;
};

class FixedLength final : public Stage {
 public:
  explicit FixedLength(size_t length) : length_(length) {}
  void run(std::vector<std::string>& pieces, Context& ctx) const override {
    resplit(pieces, ctx, [&](std::string_view p, std::vector<Span>& ranges) {
      size_t begin = 0, chars = 0;
      for (size_t i = 0; i < p.size();) {
        i += char_at(p, i).len;
        if (++chars == length_) {
          ranges.push_back({begin, i});
          begin = i, chars = 0;
        }
      }
      if (begin < p.size()) ranges.push_back({begin, p.size()});
    });
  }

 private:
  size_t length_;
};

// transformers.js's Replace pre-tokenizer (not in the Rust library): every match in each piece replaced by
// `content`, taken literally (JavaScript's $-patterns are not expanded).
class Replace final : public Stage {
 public:
  Replace(std::shared_ptr<const Regex> re, std::string content) : re_(std::move(re)), content_(std::move(content)) {}
  void run(std::vector<std::string>& pieces, Context& ctx) const override {
    auto md = re_->match_data();
    std::vector<Span> matches;
    std::vector<std::string> out;
    out.reserve(pieces.size());
    for (size_t i = 0; i < pieces.size(); ++i) {
      const std::string& p = pieces[i];
      matches.clear();
      re_->find_all(p, md.get(), matches);
      std::string r;
      size_t prev = 0;
      for (const Span& m : matches) {
        r.append(p, prev, m.begin - prev);
        r += content_;
        prev = m.end;
      }
      r.append(p, prev, std::string::npos);
      if (r.empty()) continue;
      if (out.empty() && i != 0) ctx.origin = false;
      out.push_back(std::move(r));
    }
    if (out.empty()) ctx.origin = false;
    pieces.swap(out);
  }

 private:
  std::shared_ptr<const Regex> re_;
  std::string content_;
};

// ---------------------------------------------------------------------------------------------------------
// JSON

// `where` is the section's path in the file ("pre_tokenizer", "pre_tokenizer.pretokenizers[1]"), `type` its
// type: errors name both, and the field.
struct Reader {
  const json& obj;
  const std::string& source;
  std::string where;
  std::string type;

  [[noreturn]] void bad(std::string_view field, std::string_view expected) const {
    fail(ErrorKind::kCorruptData, "{}: {} ({}): '{}' must be {}", source, where, type, field, expected);
  }
  const json* get(const char* key) const {
    auto it = obj.find(key);
    return it == obj.end() || it->is_null() ? nullptr : &*it;
  }
  const json& require(const char* key) const {
    const json* v = get(key);
    if (v == nullptr) fail(ErrorKind::kCorruptData, "{}: {} ({}) has no '{}'", source, where, type, key);
    return *v;
  }
  bool boolean(const char* key, bool fallback) const {
    const json* v = get(key);
    if (v == nullptr) return fallback;
    if (!v->is_boolean()) bad(key, "true or false");
    return v->get<bool>();
  }
  std::string string(const json& v, std::string_view field) const {
    if (!v.is_string()) bad(field, "a string");
    return v.get<std::string>();
  }
  // One Unicode character, as Rust's `char` fields are.
  char32_t character(const json& v, std::string_view field) const {
    const std::string s = string(v, field);
    const Char c = s.empty() ? Char{} : char_at(s, 0);
    if (!c.valid || static_cast<size_t>(c.len) != s.size()) bad(field, "a single character");
    return c.cp;
  }
  Behavior behavior(const json& v) const {
    const std::string s = string(v, "behavior");
    static constexpr std::pair<std::string_view, Behavior> kNames[] = {
        {"Removed", Behavior::Removed},
        {"Isolated", Behavior::Isolated},
        {"MergedWithPrevious", Behavior::MergedWithPrevious},
        {"MergedWithNext", Behavior::MergedWithNext},
        {"Contiguous", Behavior::Contiguous},
    };
    for (const auto& [name, b] : kNames)
      if (loose(name) == loose(s)) return b;
    fail(ErrorKind::kCorruptData,
         "{}: {} ({}): unknown behavior '{}' (Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous)",
         source, where, type, s);
  }
  // {"String": literal} or {"Regex": oniguruma regex}, as a PCRE2 regex.
  std::shared_ptr<const Regex> pattern() const {
    const json& p = require("pattern");
    if (!p.is_object()) bad("pattern", "an object with a 'String' or 'Regex'");
    const std::string what = fmt::format("{}: {} ({})", source, where, type);
    if (auto it = p.find("Regex"); it != p.end()) return std::make_shared<Regex>(onig_to_pcre2(string(*it, "pattern.Regex")), what);
    if (auto it = p.find("String"); it != p.end()) return std::make_shared<Regex>(regex_escape(string(*it, "pattern.String")), what);
    bad("pattern", "an object with a 'String' or 'Regex'");
  }
};

constexpr const char* kGpt2Regex = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
// Whitespace runs on the Rust `regex` crate, whose \w is [\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}] and
// \s is \p{White_Space}: `\w+|[^\w\s]+` spelled out.
constexpr const char* kWhitespaceRegex =
    R"([\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]+|[^\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}\p{White_Space}]+)";

// Deeper nesting is a hostile file, not a tokenizer; the limit keeps recursion off the end of the stack.
constexpr int kMaxDepth = 32;

std::unique_ptr<Stage> make_stage(const json& config, const std::string& source, const std::string& where, int depth) {
  if (!config.is_object()) fail(ErrorKind::kCorruptData, "{}: {} must be an object", source, where);
  auto t = config.find("type");
  if (t == config.end() || !t->is_string()) fail(ErrorKind::kCorruptData, "{}: {} has no 'type'", source, where);
  const std::string type = t->get<std::string>();
  const Reader r{config, source, where, type};

  if (type == "Sequence") {
    const json& list = r.require("pretokenizers");
    if (!list.is_array()) r.bad("pretokenizers", "a list");
    if (depth >= kMaxDepth)
      fail(ErrorKind::kCorruptData, "{}: {}: Sequences nested more than {} deep", source, where, kMaxDepth);
    std::vector<std::unique_ptr<Stage>> stages;
    for (size_t i = 0; i < list.size(); ++i)
      stages.push_back(make_stage(list[i], source, fmt::format("{}.pretokenizers[{}]", where, i), depth + 1));
    return std::make_unique<Sequence>(std::move(stages));
  }
  if (type == "Split") {
    auto re = r.pattern();
    const Behavior b = r.behavior(r.require("behavior"));
    return std::make_unique<RegexSplit>(std::move(re), b, r.boolean("invert", false));
  }
  if (type == "ByteLevel") {
    r.boolean("trim_offsets", true);  // offsets only; read to reject a malformed value
    const bool prefix = r.boolean("add_prefix_space", false);
    std::shared_ptr<const Regex> re;
    if (r.boolean("use_regex", true)) {
      static const auto gpt2 = std::make_shared<const Regex>(onig_to_pcre2(kGpt2Regex), "pre_tokenizer ByteLevel");
      re = gpt2;
    }
    return std::make_unique<ByteLevel>(prefix, std::move(re));
  }
  if (type == "Metaspace") {
    const json* rep = r.get("replacement");
    const char32_t replacement = rep ? r.character(*rep, "replacement") : U'\u2581';
    const json* aps = r.get("add_prefix_space");
    const json* scheme = r.get("prepend_scheme");
    Prepend prepend = Prepend::Always;
    if (scheme) {
      const std::string s = r.string(*scheme, "prepend_scheme");
      if (s == "always")
        prepend = Prepend::Always;
      else if (s == "first")
        prepend = Prepend::First;
      else if (s == "never")
        prepend = Prepend::Never;
      else
        fail(ErrorKind::kCorruptData, "{}: {} (Metaspace): unknown prepend_scheme '{}' (always, first or never)",
             source, where, s);
    }
    // Legacy files have add_prefix_space instead; false with a scheme other than "never" contradicts itself.
    if (aps && !r.boolean("add_prefix_space", true)) {
      if (scheme && prepend != Prepend::Never)
        fail(ErrorKind::kCorruptData, "{}: {} (Metaspace): add_prefix_space = false contradicts prepend_scheme", source,
             where);
      prepend = Prepend::Never;
    }
    return std::make_unique<Metaspace>(replacement, prepend, r.boolean("split", true));
  }
  if (type == "Whitespace") {
    static const auto ws = std::make_shared<const Regex>(kWhitespaceRegex, "pre_tokenizer Whitespace");
    return std::make_unique<RegexSplit>(ws, Behavior::Removed, true);
  }
  if (type == "WhitespaceSplit") return std::make_unique<CharSplit>(is_white_space, Behavior::Removed);
  if (type == "BertPreTokenizer") {
    std::vector<std::unique_ptr<Stage>> stages;
    stages.push_back(std::make_unique<CharSplit>(is_white_space, Behavior::Removed));
    stages.push_back(std::make_unique<CharSplit>(is_punctuation, Behavior::Isolated));
    return std::make_unique<Sequence>(std::move(stages));
  }
  if (type == "Punctuation") {
    const json* b = r.get("behavior");
    return std::make_unique<CharSplit>(is_punctuation, b ? r.behavior(*b) : Behavior::Isolated);
  }
  if (type == "Digits") {
    // Runs of digits are HF's Contiguous fold, which also keeps the text between runs whole.
    const bool individual = r.boolean("individual_digits", false);
    return std::make_unique<CharSplit>(is_numeric, individual ? Behavior::Isolated : Behavior::Contiguous);
  }
  if (type == "CharDelimiterSplit") {
    const char32_t d = r.character(r.require("delimiter"), "delimiter");
    return std::make_unique<CharSplit>([d](char32_t c) { return c == d; }, Behavior::Removed);
  }
  if (type == "UnicodeScripts") {
    static const auto shared = std::make_shared<const UnicodeScripts>();
    // Stages are owned; this one is stateless and costly to build, so every owner wraps the shared one.
    struct Shared final : Stage {
      void run(std::vector<std::string>& pieces, Context& ctx) const override { shared->run(pieces, ctx); }
    };
    return std::make_unique<Shared>();
  }
  if (type == "FixedLength") {
    size_t length = 5;
    if (const json* v = r.get("length")) {
      if (!v->is_number_integer() || v->get<int64_t>() < 1) r.bad("length", "a whole number of at least 1");
      length = static_cast<size_t>(v->get<int64_t>());
    }
    return std::make_unique<FixedLength>(length);
  }
  if (type == "Replace") {
    auto re = r.pattern();
    return std::make_unique<Replace>(std::move(re), r.string(r.require("content"), "content"));
  }
  fail(ErrorKind::kUnsupported, "{}: pre_tokenizer '{}' is not supported", source, type);
}

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& config, const std::string& source) {
  if (config.is_null()) return nullptr;
  try {
    return make_stage(config, source, "pre_tokenizer", 0);
  } catch (const json::exception& e) {  // the accessors above check types; this is the backstop
    fail(ErrorKind::kCorruptData, "{}: malformed pre_tokenizer: {}", source, e.what());
  }
}

}  // namespace hearth::hf
