package imagetool

// qemuNames maps our format names (the job spec's) to qemu's. Only vhd differs: qemu calls
// the Virtual PC format "vpc".
var qemuNames = map[string]string{
	"qcow2": "qcow2", "raw": "raw", "vmdk": "vmdk", "vdi": "vdi", "vhd": "vpc", "vhdx": "vhdx",
}

// QemuFormat returns qemu's name for one of our source or output formats, or "" when qemu-img
// is not the tool for it (ova is an archive, not an image).
func QemuFormat(ours string) string { return qemuNames[ours] }

// OurFormat returns our name for a format qemu-img reports. Formats we do not accept come back
// unchanged so that a mismatch message can name them.
func OurFormat(qemu string) string {
	if qemu == "vpc" {
		return "vhd"
	}
	return qemu
}
