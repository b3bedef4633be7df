package imagetool

import (
	"os"
	"slices"
	"strings"
	"testing"
)

func TestParseOVFSample(t *testing.T) {
	t.Parallel()
	f, err := os.Open("testdata/two-disks.ovf")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	o, err := ParseOVF(f)
	if err != nil {
		t.Fatalf("ParseOVF: %v", err)
	}
	if len(o.Files) != 2 || o.Files[0].Href != "data.vmdk" || o.Disks[0].FileRef != "file1" {
		t.Fatalf("got %+v", o)
	}
	if !strings.HasSuffix(o.Disks[0].Format, "#streamOptimized") {
		t.Errorf("disk format: got %q", o.Disks[0].Format)
	}
	if got, want := o.diskOrder(), []string{"system.vmdk", "data.vmdk"}; !slices.Equal(got, want) {
		t.Errorf("disk order: got %v, want %v (DiskSection order first)", got, want)
	}
}

func TestParseOVFTolerant(t *testing.T) {
	t.Parallel()
	// OVF 2.0 namespace, a prefix on every element, unreadable numbers, Latin-1 declared.
	doc := `<?xml version="1.0" encoding="ISO-8859-1"?>
<ovf:Envelope xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/2">
 <ovf:References>
  <ovf:File ovf:id="a" ovf:href="./disk.vmdk" ovf:size="oops" ovf:compression="gzip"/>
 </ovf:References>
 <ovf:Unknown><x/></ovf:Unknown>
</ovf:Envelope>`
	o, err := ParseOVF(strings.NewReader(doc))
	if err != nil {
		t.Fatalf("ParseOVF: %v", err)
	}
	want := OVFFile{ID: "a", Href: "./disk.vmdk", Compression: "gzip"}
	if len(o.Files) != 1 || o.Files[0] != want {
		t.Fatalf("got %+v, want [%+v]", o.Files, want)
	}
	if _, ok := o.file("disk.vmdk"); !ok {
		t.Error(`file("disk.vmdk") not found for href "./disk.vmdk"`)
	}
	if _, err := ParseOVF(strings.NewReader("<Envelope><References>")); err == nil {
		t.Error("truncated XML: got no error")
	}
}

func FuzzParseOVF(f *testing.F) {
	if data, err := os.ReadFile("testdata/two-disks.ovf"); err == nil {
		f.Add(string(data))
	}
	f.Add(`<Envelope><References><File id="1" href="a"/></References>` +
		`<DiskSection><Disk diskId="d" fileRef="1"/></DiskSection></Envelope>`)
	f.Fuzz(func(t *testing.T, doc string) {
		o, err := ParseOVF(strings.NewReader(doc))
		if err != nil {
			return
		}
		order := o.diskOrder()
		seen := map[string]bool{}
		for _, href := range order {
			if seen[href] || href == "" {
				t.Fatalf("disk order %v repeats or has an empty href", order)
			}
			seen[href] = true
		}
		if len(order) > len(o.Files) {
			t.Fatalf("disk order %v longer than the files %v", order, o.Files)
		}
	})
}

func TestParseManifest(t *testing.T) {
	t.Parallel()
	sha1 := strings.Repeat("ab", 20)
	sha256 := strings.Repeat("CD", 32)
	mf := "SHA1(vm.ovf)= " + sha1 + "\r\n" +
		"SHA256(disk 1.vmdk)=" + sha256 + "\n" +
		"MD5(x)= 00\n" + // unknown algorithm
		"SHA256(short.vmdk)= abcd\n" + // wrong length
		"garbage\n"
	got := ParseManifest(strings.NewReader(mf))
	want := map[string]Digest{
		"vm.ovf":      {Algorithm: "SHA1", Hex: sha1},
		"disk 1.vmdk": {Algorithm: "SHA256", Hex: strings.ToLower(sha256)},
	}
	if len(got) != len(want) || got["vm.ovf"] != want["vm.ovf"] ||
		got["disk 1.vmdk"] != want["disk 1.vmdk"] {
		t.Errorf("got %v, want %v", got, want)
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add("SHA256(a.vmdk)= " + strings.Repeat("0", 64) + "\n")
	f.Add("SHA1((x))=" + strings.Repeat("f", 40))
	f.Fuzz(func(t *testing.T, mf string) {
		for name, d := range ParseManifest(strings.NewReader(mf)) {
			h := newHash(d.Algorithm)
			if h == nil || len(d.Hex) != 2*h.Size() || name == "" {
				t.Fatalf("entry %q %+v is not a usable digest", name, d)
			}
		}
	})
}
