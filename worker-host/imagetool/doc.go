// Package imagetool wraps qemu-img for the worker host: it probes, checks, converts and
// compares disk images, hashes them and unpacks OVA archives. Every failure it returns
// carries a *domain.JobError whose code says whether the input, the host or the tool is to
// blame, because that code decides whether the job is retried.
//
// Source images are untrusted. qemu-img follows references inside an image (backing files,
// VMDK extents, qcow2 data files) and would read whatever they name, so those are checked
// before qemu-img opens anything, and images are always opened through the file driver so a
// path can never be taken for a network protocol.
package imagetool
