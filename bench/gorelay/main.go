// Command gorelay is the smallest Go TCP relay: per connection, two
// goroutines copying each way (io.Copy, which splices on Linux, or a
// 16 KiB buffer loop); in epoll mode, no goroutine per connection at
// all (epoll.go); in coro mode, the copy loops as coroutines that an
// epoll loop resumes (coro.go). It is the floor a Go proxy starts from, measured
// beside HAProxy and rrproxy (README, Performance):
//
//	go run ./bench/gorelay 127.0.0.1:39101 127.0.0.1:<mariadb port> copy
package main

import (
	"bufio"
	"io"
	"net"
	"os"
)

// Usage: gorelay LISTEN UPSTREAM copy|buf|epoll|coro
func main() {
	if os.Args[3] == "coro" {
		runCoro(os.Args[1], os.Args[2])
		return
	}
	if os.Args[3] == "epoll" {
		runEpoll(os.Args[1], os.Args[2])
		return
	}
	ln, err := net.Listen("tcp", os.Args[1])
	if err != nil {
		panic(err)
	}
	mode := os.Args[3]
	for {
		c, err := ln.Accept()
		if err != nil {
			panic(err)
		}
		go func() {
			u, err := net.Dial("tcp", os.Args[2])
			if err != nil {
				c.Close()
				return
			}
			pipe := func(dst, src net.Conn) {
				if mode == "copy" {
					io.Copy(dst, src)
				} else {
					r := bufio.NewReaderSize(src, 16<<10)
					buf := make([]byte, 16<<10)
					for {
						n, err := r.Read(buf)
						if n > 0 {
							if _, err := dst.Write(buf[:n]); err != nil {
								break
							}
						}
						if err != nil {
							break
						}
					}
				}
				dst.Close()
				src.Close()
			}
			go pipe(u, c)
			pipe(c, u)
		}()
	}
}
