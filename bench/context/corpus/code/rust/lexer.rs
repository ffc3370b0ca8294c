//! Tokens of a small arithmetic expression language: numbers, identifiers, operators and parentheses.

#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    Number(f64),
    Ident(String),
    Plus,
    Minus,
    Star,
    Slash,
    Caret,
    LParen,
    RParen,
    Comma,
}

#[derive(Debug, PartialEq)]
pub struct LexError {
    pub offset: usize,
    pub found: char,
}

pub fn tokenize(source: &str) -> Result<Vec<Token>, LexError> {
    let chars: Vec<(usize, char)> = source.char_indices().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (offset, c) = chars[i];
        match c {
            ' ' | '\t' | '\n' => i += 1,
            '0'..='9' | '.' => {
                let start = i;
                while i < chars.len() && (chars[i].1.is_ascii_digit() || chars[i].1 == '.') {
                    i += 1;
                }
                let text: String = chars[start..i].iter().map(|&(_, c)| c).collect();
                let value = text.parse::<f64>().map_err(|_| LexError { offset, found: c })?;
                tokens.push(Token::Number(value));
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].1.is_alphanumeric() || chars[i].1 == '_') {
                    i += 1;
                }
                tokens.push(Token::Ident(chars[start..i].iter().map(|&(_, c)| c).collect()));
            }
            _ => {
                tokens.push(match c {
                    '+' => Token::Plus,
                    '-' => Token::Minus,
                    '*' => Token::Star,
                    '/' => Token::Slash,
                    '^' => Token::Caret,
                    '(' => Token::LParen,
                    ')' => Token::RParen,
                    ',' => Token::Comma,
                    other => return Err(LexError { offset, found: other }),
                });
                i += 1;
            }
        }
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_call() {
        let t = tokenize("max(2.5, x)").unwrap();
        assert_eq!(t[0], Token::Ident("max".into()));
        assert_eq!(t[2], Token::Number(2.5));
    }

    #[test]
    fn rejects_unknown_symbols() {
        assert_eq!(tokenize("3 $ 4"), Err(LexError { offset: 2, found: '$' }));
    }
}
