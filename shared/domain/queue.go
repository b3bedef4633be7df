package domain

// Band is a priority band. SQS has no priorities, so each band is its own queue and workers
// poll higher bands first.
type Band string

// The three bands, from priority 1-3, 4-7 and 8-10.
const (
	BandHigh   Band = "high"
	BandNormal Band = "normal"
	BandLow    Band = "low"
)

// Class separates jobs that need device access (nbd, lvm, mount, SELinux tools) from plain
// image work, so a worker without those never even receives such a job.
type Class string

// The two capability classes.
const (
	ClassBasic  Class = "basic"
	ClassDevice Class = "device"
)

// QueueKey names one SQS queue.
type QueueKey struct {
	Band  Band
	Class Class
}

// String renders the key as "high-basic", the name used in configuration.
func (k QueueKey) String() string { return string(k.Band) + "-" + string(k.Class) }

// Bands lists the bands from highest to lowest.
var Bands = []Band{BandHigh, BandNormal, BandLow}

// AllQueueKeys lists every queue the product uses.
func AllQueueKeys() []QueueKey {
	var out []QueueKey
	for _, b := range Bands {
		for _, c := range []Class{ClassBasic, ClassDevice} {
			out = append(out, QueueKey{Band: b, Class: c})
		}
	}
	return out
}

// BandOf maps a priority (1 highest) to its band.
func BandOf(priority int) Band {
	switch {
	case priority <= 3:
		return BandHigh
	case priority <= 7:
		return BandNormal
	}
	return BandLow
}

// QueueFor routes a job to its queue.
func QueueFor(s JobSpec) QueueKey {
	r := s.CapabilityRequirements
	class := ClassBasic
	if r.NeedsNBD || r.NeedsLVM || r.NeedsMount || r.NeedsSELinuxTools {
		class = ClassDevice
	}
	return QueueKey{Band: BandOf(s.Priority()), Class: class}
}

// ServesClass reports whether a worker with c should poll queues of class cl.
func (c Capabilities) ServesClass(cl Class) bool {
	if cl == ClassBasic {
		return c.QemuImg
	}
	return c.QemuImg && (c.NBD || c.LVM || c.Mount || c.SELinux)
}

// Dispatch is the small message that wakes a worker for a job; the job record is the truth.
type Dispatch struct {
	JobID   string `json:"job_id"`
	Attempt int    `json:"attempt"`
}
