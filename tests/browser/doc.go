// Package browser runs the protocol's browser example in headless Chromium: a page on another
// origin opens the job's stream_url with EventSource, the way the original docs show it, and
// the test reads back what the page received. It proves that the stream works across origins
// the CORS allow-list admits, and that the browser refuses it to every other origin.
//
// Chromium is Debian's package (dev/install.sh installs it); every server is on 127.0.0.1 and
// Chromium is started with its background networking off, so it contacts no other host.
package browser
