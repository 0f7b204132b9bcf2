package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/ron-network/ron/io/keyfile"
)

// keyCmd runs the key commands: gen and id (owner and node keys,
// main.go), rotate and retire (the versions of a node's cap key file).
func (c *client) keyCmd(args []string) error {
	if len(args) == 0 {
		return usageError{"usage: ronctl key gen|id FILE, or key rotate|retire --cap-key-file FILE"}
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "gen", "id":
		if err := need(args, 1, "key "+sub+" FILE"); err != nil {
			return err
		}
		if sub == "id" {
			return c.keyID(args[0])
		}
		return keyGen(args[0], c.stdout)
	case "rotate":
		if err := need(args, 0, "key rotate --cap-key-file FILE"); err != nil {
			return err
		}
		return c.keyRotate()
	case "retire":
		if err := need(args, 0, "key retire --cap-key-file FILE --version N"); err != nil {
			return err
		}
		return c.keyRetire()
	}
	return usageError{fmt.Sprintf("unknown key command %q (gen, id, rotate, retire)", sub)}
}

// editCapKey reads --cap-key-file, applies edit, and replaces the file
// atomically (keyfile.WriteAtomic), so a rond reloading it never reads
// half a file. Two edits of one file at once are not serialised.
func (c *client) editCapKey(form string, edit func(*keyfile.CapKey) error) (*keyfile.CapKey, error) {
	path := c.tok.capKeyFile
	if path == "" {
		return nil, usageError{"usage: ronctl " + form + " (the node's cap key: rond --cap-key-file, or DIR/cap.key)"}
	}
	k, err := keyfile.ReadCap(path)
	if err != nil {
		return nil, err
	}
	if err := edit(k); err != nil {
		return nil, err
	}
	return k, keyfile.WriteCap(path, k)
}

// keyRotate adds a version to the cap key file: new tokens (rond's next
// root token, token issue) use it, tokens of the older versions still
// verify.
func (c *client) keyRotate() error {
	k, err := c.editCapKey("key rotate --cap-key-file FILE", func(k *keyfile.CapKey) error {
		_, err := k.Rotate()
		return err
	})
	if err != nil {
		return err
	}
	return c.printVersions(k, fmt.Sprintf("rotated %s: version %d now mints new tokens; older versions still verify until retired",
		c.tok.capKeyFile, k.Current()))
}

// keyRetire removes --version from the cap key file: tokens minted with
// it stop verifying on every node that reloads the file.
func (c *client) keyRetire() error {
	if !c.tok.versionSet {
		return usageError{"usage: ronctl key retire --cap-key-file FILE --version N"}
	}
	version := uint32(c.tok.version)
	k, err := c.editCapKey("key retire --cap-key-file FILE --version N", func(k *keyfile.CapKey) error {
		return k.Retire(version)
	})
	if err != nil {
		return err
	}
	return c.printVersions(k, fmt.Sprintf("retired version %d of %s: its tokens are refused (401 unknown_key) once nodes reload the file",
		version, c.tok.capKeyFile))
}

func (c *client) printVersions(k *keyfile.CapKey, what string) error {
	if c.json {
		return json.NewEncoder(c.stdout).Encode(map[string]any{"file": c.tok.capKeyFile, "current": k.Current(), "versions": k.Versions()})
	}
	live := strings.Trim(fmt.Sprint(k.Versions()), "[]")
	_, err := fmt.Fprintf(c.stdout, "%s\nlive versions: %s (current %d)\n"+
		"rond reloads the file within a second or on SIGHUP; copy it to every node that shares it\n", what, live, k.Current())
	return err
}
