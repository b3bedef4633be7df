package imagetool

import (
	"bufio"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"io"
	"regexp"
	"strings"
)

// maxManifest bounds the manifest we read: one line per file of the package.
const maxManifest = 1 << 20

// Digest is one line of an OVA manifest: the expected hash of a file of the package.
type Digest struct {
	Algorithm string // "SHA1", "SHA256" or "SHA512"
	Hex       string // lower case
}

var manifestLine = regexp.MustCompile(`^(SHA1|SHA256|SHA512)\s*\((.+)\)\s*=\s*([0-9a-fA-F]+)$`)

// ParseManifest reads an OVA manifest (.mf): lines like "SHA256(disk1.vmdk)= <hex>". Lines
// it does not understand, and digests of the wrong length, are skipped: the manifest is an
// extra check, and a file it does not cover is simply not checked by it.
func ParseManifest(r io.Reader) map[string]Digest {
	out := map[string]Digest{}
	sc := bufio.NewScanner(io.LimitReader(r, maxManifest))
	for sc.Scan() {
		m := manifestLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		d := Digest{Algorithm: m[1], Hex: strings.ToLower(m[3])}
		if h := newHash(d.Algorithm); h != nil && len(d.Hex) == h.Size()*2 {
			out[m[2]] = d
		}
	}
	return out
}

// newHash returns a hash for a manifest algorithm, or nil for one we do not know.
func newHash(algorithm string) hash.Hash {
	switch algorithm {
	case "SHA1":
		return sha1.New() // what OVF 1.x manifests use; integrity, not authenticity
	case "SHA256":
		return sha256.New()
	case "SHA512":
		return sha512.New()
	}
	return nil
}
