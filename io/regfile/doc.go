// Package regfile opens the files a command reads as input (config files,
// key files, scenario files) and refuses anything that is not a regular
// file once symlinks are followed: a FIFO, a socket, a device or a
// directory given by mistake would make the reader block for ever (a FIFO
// with no writer), read without end (/dev/zero) or fail with an obscure
// error. The refusal names the path and what it is.
//
// Open never blocks: it looks at the path first (Stat) and opens only
// what claims to be a regular file, with O_NONBLOCK (so a FIFO swapped in
// between cannot block the open) and O_NOCTTY, then checks the opened
// descriptor itself (fstat), so what is read is what was checked; the
// non-blocking mode is then cleared.
package regfile
