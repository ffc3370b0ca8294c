#include "cli/bench_corpus.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace hearth::cli {
namespace {

// Everyday and technical vocabulary, roughly most common first within each list (pick() favours the front).
const std::vector<std::string> kNouns = {
    "file", "user", "system", "value", "time", "data", "name", "list", "page", "server", "request", "change",
    "process", "folder", "record", "table", "error", "message", "number", "result", "option", "version", "key",
    "line", "path", "team", "project", "report", "window", "account", "order", "question", "answer", "problem",
    "setting", "document", "machine", "network", "service", "client", "model", "image", "photo", "library",
    "meeting", "plan", "budget", "schedule", "week", "morning", "garden", "kitchen", "recipe", "city", "train",
    "station", "ticket", "holiday", "weather", "river", "bridge", "road", "car", "bicycle", "doctor", "school",
    "student", "teacher", "lesson", "book", "chapter", "story", "letter", "invoice", "payment", "customer",
    "supplier", "warehouse", "shipment", "package", "address", "street", "house", "room", "door", "light",
    "battery", "engine", "tyre", "brake", "filter", "pump", "valve", "sensor", "signal", "channel", "frequency",
    "voltage", "circuit", "board", "cable", "socket", "queue", "stack", "buffer", "cache", "thread", "lock",
    "socket", "packet", "header", "payload", "token", "session", "cookie", "password", "permission", "role",
    "group", "policy", "rule", "pattern", "schema", "column", "index", "query", "cursor", "snapshot", "backup",
    "archive", "checksum", "hash", "signature", "certificate", "proxy", "gateway", "router", "switch", "cluster",
    "node", "replica", "shard", "partition", "volume", "disk", "memory", "processor", "kernel", "driver",
    "module", "package", "plugin", "theme", "layout", "button", "menu", "dialog", "form", "field", "label",
    "harbour", "lantern", "meadow", "orchard", "quarry", "glacier", "canyon", "lagoon", "prairie", "tundra",
    "falcon", "heron", "otter", "badger", "walnut", "saffron", "juniper", "cobalt", "granite", "amber",
    "compass", "anchor", "beacon", "ledger", "almanac", "atlas", "mosaic", "tapestry", "sextant", "turbine"};

const std::vector<std::string> kVerbs = {
    "read", "write", "open", "close", "send", "check", "update", "remove", "add", "create", "build", "find",
    "load", "save", "start", "stop", "move", "copy", "keep", "show", "change", "parse", "count", "sort", "merge",
    "split", "match", "filter", "compress", "encrypt", "decode", "encode", "verify", "measure", "schedule",
    "deliver", "collect", "review", "approve", "reject", "cancel", "repair", "replace", "install", "configure",
    "monitor", "restart", "rotate", "upload", "download", "publish", "subscribe", "notify", "forward", "retry",
    "resolve", "translate", "render", "resize", "crop", "scan", "index", "archive", "restore", "migrate",
    "plant", "water", "harvest", "prune", "bake", "knead", "simmer", "season", "paint", "sketch", "measure",
    "borrow", "return", "lend", "visit", "travel", "book", "pack", "carry", "climb", "cross", "follow", "lead"};

const std::vector<std::string> kAdjectives = {
    "new", "old", "large", "small", "local", "remote", "empty", "full", "default", "current", "previous", "next",
    "main", "public", "private", "shared", "temporary", "permanent", "broken", "missing", "valid", "invalid",
    "slow", "fast", "quiet", "busy", "simple", "complex", "careful", "quick", "daily", "weekly", "monthly",
    "annual", "secure", "open", "hidden", "visible", "recent", "stale", "fresh", "heavy", "light", "narrow",
    "wide", "deep", "shallow", "warm", "cold", "dry", "wet", "green", "red", "blue", "golden", "silver",
    "wooden", "rusty", "sturdy", "fragile", "noisy", "silent", "hourly", "nightly", "manual", "automatic",
    "binary", "textual", "nested", "flat", "sorted", "unique", "duplicate", "partial", "complete", "pending"};

const std::vector<std::string> kAdverbs = {
    "quickly", "slowly", "carefully", "again", "later", "first", "always", "never", "often", "rarely", "usually",
    "silently", "safely", "manually", "automatically", "twice", "early", "together", "separately", "gradually"};

const std::vector<std::string> kPrepositions = {"in", "on", "for", "with", "from", "into", "after", "before",
                                                "under", "over", "behind", "beside", "through", "without"};

const std::vector<std::string> kDeterminers = {"the", "a", "every", "each", "this", "that", "some", "no",
                                               "another", "one"};

// A part of speech: its real words (most common first), then a long tail of words formed from them — compound
// nouns ("cachetoken"), prefixed verbs ("reindex"), suffixed adjectives ("threadsafe"-like "lockless") — ranked by
// a Zipf-Mandelbrot law, P(rank r) ~ 1 / (r + offset). The tail gives BM25 the term statistics of real text (a
// content word occurs in a small share of chunks, most in very few), which a few hundred words alone cannot: the
// commonest would be in every chunk and each query would match most of the index. Tail words are made of known
// words, so the embedding model reads them as it reads identifiers and compounds in real files.
struct Lexicon {
  const std::vector<std::string>* head;
  const std::vector<std::string>* bases;  // the tail's words: bases[i] + parts[j] or parts[j] + bases[i]
  const std::vector<std::string>* parts;
  bool parts_first;                       // prefix (parts + base) rather than suffix (base + parts)
  size_t tail;                            // tail words ranked after the head (at most bases × parts)
  double offset;                          // flattens the head, as real text's commonest content words are
                                          // ranks ~100 among all its words
  size_t size() const { return head->size() + std::min(tail, bases->size() * parts->size()); }
};

const std::vector<std::string> kVerbPrefixes = {"re", "pre", "un", "over", "auto", "co", "de", "mis", "out", "sub"};
const std::vector<std::string> kAdjectiveSuffixes = {"less", "like", "ful", "proof", "wide", "bound"};

const Lexicon kNounLexicon{&kNouns, &kNouns, &kNouns, false, 20000, 20.0};
const Lexicon kVerbLexicon{&kVerbs, &kVerbs, &kVerbPrefixes, true, 900, 5.0};
const Lexicon kAdjectiveLexicon{&kAdjectives, &kNouns, &kAdjectiveSuffixes, false, 1200, 5.0};

std::string tail_word(const Lexicon& lex, size_t index) {
  // A fixed permutation of the bases × parts grid (multiplying by 1000003, a prime larger than the grid, so
  // coprime with its size), so that neighbouring ranks do not share their first word.
  const size_t grid = lex.bases->size() * lex.parts->size();
  const size_t cell = size_t((uint64_t(index) * 1000003ull) % grid);
  const std::string& base = (*lex.bases)[cell % lex.bases->size()];
  const std::string& part = (*lex.parts)[cell / lex.bases->size()];
  return lex.parts_first ? part + base : base + part;
}

std::string draw(TextGenerator& g, const Lexicon& lex) {
  // Inverse of the continuous Zipf-Mandelbrot CDF over [0, n): F(x) = ln((x + q) / q) / ln((n + q) / q).
  const double n = double(lex.size()), q = lex.offset;
  const size_t rank = std::min(size_t(n) - 1, size_t(q * std::pow((n + q) / q, g.uniform()) - q));
  return rank < lex.head->size() ? (*lex.head)[rank] : tail_word(lex, rank - lex.head->size());
}

std::string third_person(const std::string& verb) {
  const auto ends = [&](const char* s) {
    const std::string suffix(s);
    return verb.size() >= suffix.size() && verb.compare(verb.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends("s") || ends("sh") || ends("ch") || ends("x") || ends("z") || ends("o")) return verb + "es";
  if (ends("y") && verb.size() > 1 && std::string("aeiou").find(verb[verb.size() - 2]) == std::string::npos)
    return verb.substr(0, verb.size() - 1) + "ies";
  return verb + "s";
}

std::string capitalized(std::string s) {
  if (!s.empty() && s[0] >= 'a' && s[0] <= 'z') s[0] = char(s[0] - 'a' + 'A');
  return s;
}

// How one language spells the few constructs the generated code uses.
struct LanguageSyntax {
  const char* extension;
  const char* comment;        // line comment prefix
  const char* declare;        // "auto {} = " etc., {} is the name
  const char* statement_end;  // ";" or ""
  bool braces;                // false: Python (indentation, ":")
  bool camel_case;            // local names in camelCase (else snake_case)
  const char* indent;
};

const LanguageSyntax kLanguages[] = {
    {"cpp", "//", "auto {} = ", ";", true, false, "  "},   {"py", "#", "{} = ", "", false, false, "    "},
    {"go", "//", "{} := ", "", true, true, "\t"},          {"rs", "//", "let {} = ", ";", true, false, "    "},
    {"js", "//", "const {} = ", ";", true, true, "  "},    {"ts", "//", "const {} = ", ";", true, true, "  "},
    {"java", "//", "var {} = ", ";", true, true, "    "},
};

}  // namespace

uint64_t TextGenerator::next() {
  // splitmix64
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

size_t TextGenerator::below(size_t n) { return n == 0 ? 0 : size_t(next() % n); }

double TextGenerator::uniform() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }

// Log-uniform rank: P(rank r) falls roughly as 1/r, the shape of word frequencies in real text.
const std::string& TextGenerator::pick(const std::vector<std::string>& words) {
  const double n = double(words.size());
  const size_t rank = std::min(words.size() - 1, size_t(std::floor(std::pow(n + 1.0, uniform()))) - 1);
  return words[rank];
}

std::string TextGenerator::word() {
  switch (below(4)) {
    case 0: return draw(*this, kVerbLexicon);
    case 1: return draw(*this, kAdjectiveLexicon);
    default: return draw(*this, kNounLexicon);
  }
}

std::string TextGenerator::sentence() {
  std::string s;
  switch (below(6)) {
    case 0:
      s = fmt::format("the {} {} {} {} {} {} the {} {}", draw(*this, kAdjectiveLexicon), draw(*this, kNounLexicon), third_person(draw(*this, kVerbLexicon)),
                      pick(kDeterminers), draw(*this, kNounLexicon), pick(kPrepositions), draw(*this, kAdjectiveLexicon), draw(*this, kNounLexicon));
      break;
    case 1:
      s = fmt::format("when {} {} {}, the {} {} {}", pick(kDeterminers), draw(*this, kNounLexicon), third_person(draw(*this, kVerbLexicon)),
                      draw(*this, kNounLexicon), third_person(draw(*this, kVerbLexicon)), pick(kAdverbs));
      break;
    case 2:
      s = fmt::format("{} {} the {} {} before you {} the {} {}", pick(kAdverbs), draw(*this, kVerbLexicon), draw(*this, kNounLexicon),
                      pick(kPrepositions), draw(*this, kVerbLexicon), draw(*this, kAdjectiveLexicon), draw(*this, kNounLexicon));
      break;
    case 3:
      s = fmt::format("this {} {} how {} {} {} {} the {} {}", draw(*this, kNounLexicon), third_person(draw(*this, kVerbLexicon)),
                      pick(kDeterminers), draw(*this, kNounLexicon), third_person(draw(*this, kVerbLexicon)), pick(kPrepositions),
                      draw(*this, kNounLexicon), draw(*this, kNounLexicon));
      break;
    case 4:
      s = fmt::format("use the {} {} to {} {} {} {} and {} it {}", draw(*this, kNounLexicon), draw(*this, kNounLexicon), draw(*this, kVerbLexicon),
                      pick(kDeterminers), draw(*this, kAdjectiveLexicon), draw(*this, kNounLexicon), draw(*this, kVerbLexicon), pick(kAdverbs));
      break;
    default:
      s = fmt::format("if the {} is {}, {} the {} {} the {} {} {}", draw(*this, kNounLexicon), draw(*this, kAdjectiveLexicon), draw(*this, kVerbLexicon),
                      draw(*this, kNounLexicon), pick(kPrepositions), draw(*this, kNounLexicon), pick(kPrepositions), draw(*this, kNounLexicon));
      break;
  }
  return capitalized(s) + ".";
}

std::string TextGenerator::paragraph(int sentences) {
  std::string p;
  for (int i = 0; i < sentences; ++i) p += (i ? " " : "") + sentence();
  return p;
}

std::string TextGenerator::identifier(bool camel) {
  const std::string a = draw(*this, kVerbLexicon), b = draw(*this, kNounLexicon);
  return camel ? a + capitalized(b) : a + "_" + b;
}

std::string TextGenerator::type_name() { return capitalized(draw(*this, kAdjectiveLexicon)) + capitalized(draw(*this, kNounLexicon)); }

std::string TextGenerator::query() {
  const size_t words = 2 + below(5);
  std::string q;
  for (size_t i = 0; i < words; ++i) q += (i ? " " : "") + (i % 2 ? draw(*this, kNounLexicon) : word());
  return q;
}

std::string TextGenerator::passage() { return paragraph(1 + int(below(3))); }

namespace {

// A file size in bytes: log-normal around 3 KB (most files 1-8 KB, a few tens of KB), like a notes folder or a
// source tree.
size_t target_size(TextGenerator& g) {
  const double u1 = std::max(g.uniform(), 1e-12), u2 = g.uniform();
  const double normal = std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  return size_t(std::clamp(std::exp(std::log(3000.0) + 0.8 * normal), 300.0, 60000.0));
}

std::string markdown_file(TextGenerator& g, size_t size) {
  std::string out = "# " + capitalized(g.word()) + " " + g.word() + " " + g.word() + "\n\n" + g.paragraph(2) + "\n";
  while (out.size() < size) {
    out += "\n## " + capitalized(g.word()) + " " + g.word() + "\n\n";
    const size_t blocks = 1 + g.below(4);
    for (size_t b = 0; b < blocks && out.size() < size; ++b) {
      const size_t kind = g.below(8);
      if (kind == 0) {
        for (size_t i = 0, n = 2 + g.below(4); i < n; ++i) out += "- " + g.sentence() + "\n";
      } else if (kind == 1) {
        out += "```sh\n";
        for (size_t i = 0, n = 1 + g.below(3); i < n; ++i)
          out += fmt::format("{} {} --{} {}\n", g.identifier(false), g.word(), g.word(), g.word());
        out += "```\n";
      } else {
        out += g.paragraph(2 + int(g.below(4))) + "\n";
      }
      out += "\n";
    }
  }
  return out;
}

std::string statement(TextGenerator& g, const LanguageSyntax& lang, bool allow_comment = true) {
  const std::string var = g.identifier(lang.camel_case);
  switch (allow_comment ? g.below(5) : 1 + g.below(4)) {
    case 0: return std::string(lang.comment) + " " + g.sentence();
    case 1:
      return fmt::format(fmt::runtime(lang.declare), var) +
             fmt::format("{}({}, {}){}", g.identifier(false), g.word(), g.below(1000), lang.statement_end);
    case 2:
      return fmt::format("{}.{}({}){}", g.word(), g.identifier(false), g.below(64), lang.statement_end);
    case 3:
      return fmt::format(fmt::runtime(lang.declare), var) +
             fmt::format("{}.{} + {}{}", g.word(), g.word(), g.below(100), lang.statement_end);
    default:
      return fmt::format("{}({}, \"{}\"){}", g.identifier(false), g.word(), g.sentence(), lang.statement_end);
  }
}

std::string function_body(TextGenerator& g, const LanguageSyntax& lang) {
  std::string body;
  const std::string in = lang.indent;
  for (size_t i = 0, n = 3 + g.below(18); i < n; ++i) {
    if (g.below(6) == 0) {
      const std::string cond = fmt::format("{} > {}", g.word(), g.below(50));
      body += lang.braces ? in + (lang.extension == std::string("go") || lang.extension == std::string("rs")
                                      ? fmt::format("if {} {{\n", cond)
                                      : fmt::format("if ({}) {{\n", cond))
                          : in + fmt::format("if {}:\n", cond);
      body += in + in + statement(g, lang, /*allow_comment=*/false) + "\n";
      if (lang.braces) body += in + "}\n";
    } else {
      body += in + statement(g, lang) + "\n";
    }
  }
  const std::string ret = fmt::format("return {}{}", g.word(), lang.statement_end);
  return body + in + ret + "\n";
}

std::string code_file(TextGenerator& g, const LanguageSyntax& lang, size_t size) {
  const std::string ext = lang.extension;
  std::string out;
  if (ext == "cpp") out = "#include <string>\n#include <vector>\n\n";
  if (ext == "py") out = "import os\nimport sys\n\n";
  if (ext == "go") out = "package " + g.word() + "\n\nimport \"fmt\"\n\n";
  if (ext == "rs") out = "use std::collections::HashMap;\n\n";
  if (ext == "js" || ext == "ts") out = "import { " + g.identifier(true) + " } from './" + g.word() + "';\n\n";
  const std::string java_class = g.type_name();
  if (ext == "java") out = "package com.example." + g.word() + ";\n\npublic class " + java_class + " {\n\n";
  while (out.size() < size) {
    const std::string doc = g.sentence();
    const std::string a = g.word() + "_" + g.word(), b = g.word();
    if (ext == "cpp") {
      out += fmt::format("// {}\nstatic int {}(const {}& {}, int {}) {{\n", doc, g.identifier(false), g.type_name(), a, b);
      out += function_body(g, lang) + "}\n\n";
    } else if (ext == "py") {
      out += fmt::format("def {}({}, {}):\n    \"\"\"{}\"\"\"\n", g.identifier(false), a, b, doc);
      out += function_body(g, lang) + "\n\n";
    } else if (ext == "go") {
      const std::string name = capitalized(g.identifier(true));
      out += fmt::format("// {} {}\nfunc {}({} int, {} string) error {{\n", name, doc, name, b, g.word());
      out += function_body(g, lang) + "}\n\n";
    } else if (ext == "rs") {
      out += fmt::format("/// {}\npub fn {}({}: &str, {}: usize) -> Option<String> {{\n", doc, g.identifier(false), a, b);
      out += function_body(g, lang) + "}\n\n";
    } else if (ext == "js") {
      out += fmt::format("/** {} */\nexport function {}({}, {}) {{\n", doc, g.identifier(true), b, g.word());
      out += function_body(g, lang) + "}\n\n";
    } else if (ext == "ts") {
      out += fmt::format("/** {} */\nexport function {}({}: string, {}: number): boolean {{\n", doc, g.identifier(true), b,
                         g.word());
      out += function_body(g, lang) + "}\n\n";
    } else {
      out += fmt::format("    /** {} */\n    public int {}(String {}, int {}) {{\n", doc, g.identifier(true), b, g.word());
      std::string body = function_body(g, lang);
      std::string indented;
      for (size_t pos = 0; pos < body.size();) {
        const size_t eol = body.find('\n', pos);
        indented += "    " + body.substr(pos, eol - pos + 1);
        pos = eol + 1;
      }
      out += indented + "    }\n\n";
    }
  }
  if (ext == "java") out += "}\n";
  return out;
}

std::string text_file(TextGenerator& g, size_t size) {
  std::string out = capitalized(g.word()) + " notes, " + g.word() + " " + std::to_string(1 + g.below(28)) + "\n\n";
  while (out.size() < size) {
    if (g.below(4) == 0) {
      for (size_t i = 0, n = 2 + g.below(5); i < n; ++i) out += "  - " + g.sentence() + "\n";
    } else {
      out += g.paragraph(2 + int(g.below(5)));
      out += "\n";
    }
    out += "\n";
  }
  return out;
}

}  // namespace

GeneratedFile generate_file(uint64_t seed, size_t index) {
  // A seed per file, hashed: splitmix64 steps its state by a constant, so seeds that differ by multiples of it
  // (seed + index * step) would give the same stream shifted.
  TextGenerator seeder(seed ^ (uint64_t(index) * 0xD1B54A32D192ED03ull));
  TextGenerator g(seeder.next());
  GeneratedFile f;
  const size_t size = target_size(g);
  const std::string stem = fmt::format("{}_{}_{:05}", g.word(), g.word(), index);
  const std::string project = fmt::format("p{:03}", index / 250);
  const size_t kind = g.below(10);  // 4 in 10 Markdown, 4 in 10 code, 2 in 10 text
  if (kind < 4) {
    f.kind = "markdown";
    f.relative_path = project + "/docs/" + stem + ".md";
    f.content = markdown_file(g, size);
  } else if (kind < 8) {
    const LanguageSyntax& lang = kLanguages[g.below(std::size(kLanguages))];
    f.kind = "code";
    f.relative_path = project + "/src/" + stem + "." + lang.extension;
    f.content = code_file(g, lang, size);
  } else {
    f.kind = "text";
    f.relative_path = project + "/notes/" + stem + ".txt";
    f.content = text_file(g, size);
  }
  return f;
}

CorpusSummary write_corpus(const std::string& dir, uint64_t seed, size_t first, size_t count) {
  namespace fs = std::filesystem;
  CorpusSummary summary;
  for (size_t i = first; i < first + count; ++i) {
    const GeneratedFile f = generate_file(seed, i);
    const fs::path path = fs::path(dir) / f.relative_path;
    fs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary);
    out << f.content;
    if (!out) fail("cannot write {}", path.string());
    ++summary.files;
    summary.bytes += f.content.size();
    (f.kind == "markdown" ? summary.markdown : f.kind == "code" ? summary.code : summary.text)++;
  }
  return summary;
}

}  // namespace hearth::cli
