package main

import (
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"

	"lukechampine.com/blake3"

	"github.com/ron-network/ron/core/proto"
)

// put and get stream: neither holds an object in memory. put sends a
// regular file with its Content-Length and stdin chunked; get copies the
// answer to its destination while hashing it, and checks the address at
// the end. Memory stays at the copy buffers whatever the object's size
// (TestTransfersStreamInBoundedMemory).

// stdoutIsTerminal reports whether stdout is a terminal; a variable so
// that tests can pretend it is.
var stdoutIsTerminal = isTerminal

func (c *client) put(path string) error {
	body, size := c.stdin, int64(-1)
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		if st.IsDir() {
			return usageError{path + " is a directory (put takes one file, or - for stdin)"}
		}
		if st.Mode().IsRegular() {
			size = st.Size()
		}
		body = f
	}
	c.transfer = true
	resp, err := c.send("PUT", "/o", body, size, true)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	defer c.endProgress()
	if resp.StatusCode/100 != 2 {
		if c.bar != nil {
			c.bar.finishWith("refused")
		}
		return responseError("PUT", "/o", resp)
	}
	if c.bar != nil {
		c.bar.finishWith("stored")
	}
	answer, err := io.ReadAll(io.LimitReader(resp.Body, answerErrorBytesMax))
	if err != nil {
		return fmt.Errorf("reading the answer: %v", err)
	}
	if c.json {
		_, err = c.stdout.Write(answer)
		return err
	}
	var out struct {
		Addr string
		Size uint64
	}
	if err := json.Unmarshal(answer, &out); err != nil {
		return fmt.Errorf("unexpected answer: %v", err)
	}
	fmt.Fprintln(c.stdout, out.Addr)
	return nil
}

// get fetches ADDR. cat, get -o -, and get without -o when stdout is not
// a terminal write to stdout (as curl does); get -o FILE writes FILE
// through a temporary file renamed once the bytes are verified. get
// without -o on a terminal refuses rather than name a file after the
// address in the current directory or print binary to the screen.
func (c *client) get(target string, isCat bool) error {
	addr, err := proto.ParseAddr(target)
	if err != nil {
		return usageError{err.Error()}
	}
	toStdout := isCat || c.out == "-" || c.out == ""
	if !isCat && c.out == "" && stdoutIsTerminal(c.stdout) {
		return usageError{"get: stdout is a terminal: name a file with -o FILE, or redirect (ronctl get ADDR > FILE), or use ronctl cat ADDR"}
	}
	c.transfer = !isCat
	if !toStdout {
		// A signal cancels the download so that the temporary file
		// goes (interrupt.go).
		ctx, stop := interruptible(c.context())
		defer stop()
		c.ctx = ctx
	}
	path := "/o/" + addr.String()
	resp, err := c.send("GET", path, nil, 0, false)
	if err != nil {
		if ie := interrupted(c.context()); ie != nil {
			return fmt.Errorf("%w before the node answered: %s", ie, c.untouched())
		}
		return err
	}
	defer resp.Body.Close()
	defer c.endProgress()
	if resp.StatusCode/100 != 2 {
		return responseError("GET", path, resp)
	}
	source := c.trackDownload(resp)
	if c.bar != nil {
		c.bar.afterLast = "verifying"
	}
	if toStdout {
		got, n, err := copyHashing(c.stdout, source)
		if err != nil {
			return err
		}
		return c.checkAddr(addr, got, n, "the bytes written to stdout are not the object: discard them")
	}
	return c.getToFile(addr, source)
}

// getToFile writes the object into c.out through a temporary file in the
// same directory, renamed over c.out only once its hash checks out. A
// c.out that is a symbolic link has its target replaced, not the link; one
// that is not a regular file (a device such as /dev/null, a FIFO) is
// written in place, as to stdout: renaming over it would replace the
// device node with a file.
func (c *client) getToFile(addr proto.Addr, source io.Reader) error {
	dest := c.out
	if fi, err := os.Stat(dest); err == nil {
		switch {
		case fi.IsDir():
			return usageError{"get -o " + dest + ": is a directory; name a file"}
		case !fi.Mode().IsRegular():
			return c.getInPlace(addr, source)
		}
		if real, err := filepath.EvalSymlinks(dest); err == nil {
			dest = real
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".ronctl-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	got, n, err := copyHashing(tmp, source)
	if ie := interrupted(c.context()); err != nil && ie != nil {
		tmp.Close()
		return fmt.Errorf("%w after %d bytes of %s: the partial download was removed; %s", ie, n, addr, c.untouched())
	}
	if err == nil {
		err = c.checkAddr(addr, got, n, c.out+" was not written")
	}
	if err == nil {
		err = tmp.Sync()
	}
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dest)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "wrote %s (%d bytes)\n", c.out, n)
	return nil
}

// getInPlace writes the object into c.out, an existing file that is not a
// regular one (getToFile): opened for writing without creating or
// truncating it, so a device stays a device and a FIFO's reader gets the
// bytes. As for stdout, the bytes are out before they are verified; a
// mismatch is reported and exits non-zero.
func (c *client) getInPlace(addr proto.Addr, source io.Reader) error {
	f, err := os.OpenFile(c.out, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	got, n, err := copyHashing(f, source)
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return err
	}
	if err := c.checkAddr(addr, got, n, "the bytes written to "+c.out+" are not the object: discard them"); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "wrote %s (%d bytes)\n", c.out, n)
	return nil
}

// untouched says what became of c.out when get -o stopped early.
func (c *client) untouched() string {
	if _, err := os.Lstat(c.out); err == nil {
		return c.out + " was left as it was"
	}
	return c.out + " was not written"
}

// copyHashing copies source to dst and returns the BLAKE3 address of what
// passed and its length.
func copyHashing(dst io.Writer, source io.Reader) (proto.Addr, int64, error) {
	var h hash.Hash = blake3.New(proto.IDBytes, nil)
	n, err := io.Copy(io.MultiWriter(dst, h), source)
	if err != nil {
		return proto.Addr{}, n, fmt.Errorf("after %d bytes: %v", n, err)
	}
	var got proto.Addr
	copy(got[:], h.Sum(nil))
	return got, n, nil
}

// checkAddr compares the hash of what arrived with the address asked for
// and ends the bar with the verdict.
func (c *client) checkAddr(want, got proto.Addr, n int64, consequence string) error {
	if got != want {
		if c.bar != nil {
			c.bar.finishWith("integrity check failed")
		}
		return fmt.Errorf("integrity: the node sent %d bytes that do not hash to %s (%s)", n, want, consequence)
	}
	if c.bar != nil {
		c.bar.finishWith("verified")
	}
	return nil
}
