package sqlscope

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/pingcap/tidb/pkg/parser"
)

// Normalize returns the parser's digest of sql (hex SHA-256) and its
// normalized text: literals replaced by '?', IN-lists collapsed, keywords
// lower-cased, comments dropped. Statements that differ only in literal
// values share a digest, which suits audit grouping. It does not parse
// and never fails; text Analyze rejects still gets a digest. Should the
// digester panic, the digest is the SHA-256 of the raw text and
// normalized is empty.
func Normalize(sql string) (digest, normalized string) {
	defer func() {
		if recover() != nil {
			sum := sha256.Sum256([]byte(sql))
			digest, normalized = hex.EncodeToString(sum[:]), ""
		}
	}()
	normalized, d := parser.NormalizeDigest(sql)
	return d.String(), normalized
}
