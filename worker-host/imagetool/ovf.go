package imagetool

import (
	"encoding/xml"
	"fmt"
	"io"
	"path"
	"strconv"
)

// maxOVF bounds the descriptor we read: real ones are a few tens of KiB.
const maxOVF = 16 << 20

// OVF is the part of an OVF descriptor the worker needs: which files the package holds and
// which of them are disks, in the descriptor's order.
type OVF struct {
	Files []OVFFile
	Disks []OVFDisk
}

// OVFFile is one entry of the descriptor's References section.
type OVFFile struct {
	ID          string
	Href        string
	Size        int64  // 0 when absent or unreadable
	Compression string // "" or "gzip"
	ChunkSize   int64  // non-zero: the file is split into numbered parts
}

// OVFDisk is one entry of the DiskSection.
type OVFDisk struct {
	ID      string
	FileRef string // the OVFFile.ID holding the disk
	Format  string // a URL naming the disk format, e.g. VMDK streamOptimized
}

// ovfXML matches elements by local name only, so both OVF 1.x and 2.x namespaces and the
// prefixes exporters choose all decode.
type ovfXML struct {
	Files []struct {
		ID          string `xml:"id,attr"`
		Href        string `xml:"href,attr"`
		Size        string `xml:"size,attr"`
		Compression string `xml:"compression,attr"`
		ChunkSize   string `xml:"chunkSize,attr"`
	} `xml:"References>File"`
	Disks []struct {
		ID      string `xml:"diskId,attr"`
		FileRef string `xml:"fileRef,attr"`
		Format  string `xml:"format,attr"`
	} `xml:"DiskSection>Disk"`
}

// ParseOVF reads an OVF descriptor. It is tolerant: unknown elements, any namespace and
// unreadable numbers are ignored; only malformed XML is an error.
func ParseOVF(r io.Reader) (OVF, error) {
	d := xml.NewDecoder(io.LimitReader(r, maxOVF))
	// Exporters declare all sorts of encodings; the parts we read are ASCII anyway.
	d.CharsetReader = func(_ string, in io.Reader) (io.Reader, error) { return in, nil }
	var x ovfXML
	if err := d.Decode(&x); err != nil {
		return OVF{}, fmt.Errorf("decode ovf: %w", err)
	}
	var o OVF
	for _, f := range x.Files {
		o.Files = append(o.Files, OVFFile{ID: f.ID, Href: f.Href, Size: atoi(f.Size),
			Compression: f.Compression, ChunkSize: atoi(f.ChunkSize)})
	}
	for _, dk := range x.Disks {
		o.Disks = append(o.Disks, OVFDisk{ID: dk.ID, FileRef: dk.FileRef, Format: dk.Format})
	}
	return o, nil
}

func atoi(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// file returns the reference whose href, cleaned, is the member name.
func (o OVF) file(href string) (OVFFile, bool) {
	for _, f := range o.Files {
		if f.Href != "" && path.Clean(f.Href) == href {
			return f, true
		}
	}
	return OVFFile{}, false
}

// diskOrder returns the hrefs of the descriptor's disks: those the DiskSection names, in its
// order, then any other referenced file, in References order. Callers keep only the hrefs
// they extracted as disks.
func (o OVF) diskOrder() []string {
	byID := map[string]string{}
	for _, f := range o.Files {
		byID[f.ID] = f.Href
	}
	var order []string
	seen := map[string]bool{}
	add := func(href string) {
		if href == "" {
			return
		}
		if href = path.Clean(href); !seen[href] {
			seen[href] = true
			order = append(order, href)
		}
	}
	for _, dk := range o.Disks {
		add(byID[dk.FileRef])
	}
	for _, f := range o.Files {
		add(f.Href)
	}
	return order
}
