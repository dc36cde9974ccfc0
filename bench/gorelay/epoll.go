package main

import (
	"fmt"
	"net"
	"runtime"
	"syscall"
	"unsafe"
)

// The epoll mode relays without a goroutine per connection: one event
// loop per P, each on its own locked thread, waits in epoll_wait and
// reads and writes non-blocking sockets itself, as HAProxy's threads do.
// It shows how much of the goroutine relay's gap to HAProxy is the Go
// scheduler's parking and waking (README, Performance).

// relayConn is one direction's socket and the bytes read from its peer
// that it has not yet taken.
type relayConn struct {
	fd      int
	peer    *relayConn
	pending []byte // read from peer, not yet written to fd
	buf     []byte
}

type loop struct {
	ep    int
	conns map[int]*relayConn
	add   chan [2]int
	wake  int // an eventfd that the accept loop writes to hand over a pair
}

func runEpoll(listen, upstream string) {
	loops := make([]*loop, runtime.GOMAXPROCS(0))
	inboxes := make([]inbox, len(loops))
	for i := range loops {
		in := newInbox()
		loops[i] = &loop{ep: in.ep, conns: map[int]*relayConn{}, add: in.add, wake: in.wake}
		inboxes[i] = in
		go loops[i].run()
	}
	acceptPairs(listen, upstream, inboxes)
}

// inbox is an event loop's epoll instance and the way new connections
// reach it: pairs sent on add, then a write to the eventfd wake, which
// is registered in ep.
type inbox struct {
	ep, wake int
	add      chan [2]int
}

func newInbox() inbox {
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		panic(err)
	}
	wfd, _, e := syscall.Syscall(syscall.SYS_EVENTFD2, 0, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if e != 0 {
		panic(e)
	}
	if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, int(wfd), &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(wfd)}); err != nil {
		panic(err)
	}
	return inbox{ep: ep, wake: int(wfd), add: make(chan [2]int, 64)}
}

// acceptPairs accepts clients on listen, dials upstream for each, and
// hands the two sockets, out of Go's netpoller, to the loops in turn.
func acceptPairs(listen, upstream string, loops []inbox) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		panic(err)
	}
	for i := 0; ; i++ {
		c, err := ln.Accept()
		if err != nil {
			panic(err)
		}
		u, err := net.Dial("tcp", upstream)
		if err != nil {
			c.Close()
			continue
		}
		cfd, ufd := detach(c), detach(u)
		l := loops[i%len(loops)]
		l.add <- [2]int{cfd, ufd}
		one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
		syscall.Write(l.wake, one)
	}
}

// detach takes a connected socket out of Go's netpoller: a duplicate
// the event loop owns (non-blocking, like the original), the original
// closed. (os.File.Fd would make the shared file description blocking.)
func detach(c net.Conn) int {
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		panic(err)
	}
	fd := -1
	if err := rc.Control(func(s uintptr) { fd, err = syscall.Dup(int(s)) }); err != nil || fd < 0 {
		panic(fmt.Sprint("dup: ", err))
	}
	c.Close()
	if err := syscall.SetNonblock(fd, true); err != nil {
		panic(err)
	}
	return fd
}

// eventLoop waits in epoll_wait on ep, on a thread of its own, adopts
// the pairs handed over when wake is written, and passes every other
// event to handle.
func eventLoop(ep, wake int, adopt func(), handle func(ev syscall.EpollEvent)) {
	runtime.LockOSThread()
	events := make([]syscall.EpollEvent, 128)
	for {
		n, err := syscall.EpollWait(ep, events, -1)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			panic(err)
		}
		for _, ev := range events[:n] {
			if int(ev.Fd) == wake {
				var b [8]byte
				syscall.Read(wake, b[:])
				adopt()
				continue
			}
			handle(ev)
		}
	}
}

func (l *loop) run() {
	eventLoop(l.ep, l.wake, l.adopt, func(ev syscall.EpollEvent) {
		fd := int(ev.Fd)
		c := l.conns[fd]
		if c == nil {
			return
		}
		if ev.Events&syscall.EPOLLOUT != 0 {
			l.flush(c)
		}
		if ev.Events&(syscall.EPOLLIN|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
			l.pump(c)
		}
	})
}

func (l *loop) adopt() {
	for {
		select {
		case p := <-l.add:
			a := &relayConn{fd: p[0], buf: make([]byte, 16<<10)}
			b := &relayConn{fd: p[1], buf: make([]byte, 16<<10), peer: a}
			a.peer = b
			for _, c := range []*relayConn{a, b} {
				l.conns[c.fd] = c
				if err := syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_ADD, c.fd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(c.fd)}); err != nil {
					panic(err)
				}
			}
		default:
			return
		}
	}
}

// pump reads what c has and writes it to its peer; what the peer does
// not take now waits for EPOLLOUT, and c is not read meanwhile.
func (l *loop) pump(c *relayConn) {
	if len(c.peer.pending) > 0 {
		return
	}
	n, err := rawIO(syscall.SYS_READ, c.fd, c.buf)
	if n <= 0 {
		if err == syscall.EAGAIN {
			return
		}
		l.close(c)
		return
	}
	w, err := rawIO(syscall.SYS_WRITE, c.peer.fd, c.buf[:n])
	if err == syscall.EAGAIN {
		w = 0
	} else if err != nil {
		l.close(c)
		return
	}
	if w < n {
		c.peer.pending = append(c.peer.pending[:0], c.buf[w:n]...)
		l.arm(c.peer)
		l.arm(c)
	}
}

func (l *loop) flush(c *relayConn) {
	for len(c.pending) > 0 {
		w, err := rawIO(syscall.SYS_WRITE, c.fd, c.pending)
		if err == syscall.EAGAIN {
			return
		}
		if err != nil {
			l.close(c)
			return
		}
		c.pending = c.pending[w:]
	}
	l.arm(c)
	l.arm(c.peer)
}

// arm sets what the loop waits for on x, from the pending bytes: to
// write while x has some, and to read unless its peer has some (what x
// would read could not be passed on yet; level-triggered, a readable x
// would otherwise wake the loop again and again).
func (l *loop) arm(x *relayConn) {
	var ev uint32
	if len(x.peer.pending) == 0 {
		ev |= syscall.EPOLLIN
	}
	if len(x.pending) > 0 {
		ev |= syscall.EPOLLOUT
	}
	syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_MOD, x.fd, &syscall.EpollEvent{Events: ev, Fd: int32(x.fd)})
}

func (l *loop) close(c *relayConn) {
	for _, x := range []*relayConn{c, c.peer} {
		if l.conns[x.fd] == x {
			syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_DEL, x.fd, nil)
			delete(l.conns, x.fd)
			syscall.Close(x.fd)
		}
	}
}

// rawIO reads or writes a non-blocking socket without telling the
// scheduler: it never blocks, so the P need not be handed over.
func rawIO(trap uintptr, fd int, b []byte) (int, error) {
	r, _, e := syscall.RawSyscall(trap, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}
