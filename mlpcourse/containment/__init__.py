"""Running an untrusted notebook: the sandboxed kernel, the grader's re-runs, and their protocol.

Modules: :mod:`.contain` (nbgrader's Execute step, contained: the grader's side of
everything below), :mod:`.sandbox` (the kernel's namespaces, file system, user id and
limits; its PID 1), :mod:`.inkernel` (the grader's code inside the kernel, and the wire
format both ends share), :mod:`.judge` (the grader's re-run of test cells with trusted
code), :mod:`.structure` (the cells laid out as the release's) and :mod:`.limits`
(per-cell time limits from the reference solution's run).

The kernel <-> grader protocol
------------------------------
Three parties: the **grader** (the ``nbgrader autograde`` process, running
:class:`.contain.ContainedExecute`), the sandbox's **PID 1** (:func:`.sandbox._init`,
started by the grader, trusted), and the **kernel**, which runs student code and so
is trusted for nothing. They talk over four channels.

1. Before the kernel exists, grader -> PID 1: ``settings.json`` in the kernel's scratch
   folder (mode 0600, never mounted in the sandbox): what to mount, the user id, the
   limits, the kernel's environment.

2. Jupyter's own messages (ZeroMQ over ``ipc`` sockets in the scratch folder, driven
   by nbclient). Grader -> kernel: ``execute_request`` of each cell, interrupts
   (SIGINT) and, when a cell does not stop, killing the sandbox. Also silent
   ``execute_request`` calls of the grader's module in the kernel (named
   ``sandbox.KERNEL_MODULE``, a copy of :mod:`.inkernel`; the code is built by :func:`.contain.kernel_call`):

   - ``snapshot()``, after the kernel starts: record what :func:`.inkernel.observe`
     compares with;
   - ``watch_cells(limits, deadline)``, after the snapshot: from then on IPython's
     ``pre_run_cell`` event arms a timer that dumps the kernel's stack to its log if the
     cell still runs a second before its limit (which function hung), and
     ``post_run_cell`` cancels it; the grader reads a dump only from the part of the log
     written after the cell was sent;
   - ``stop_calling(f, message)``, after ``f`` had to be interrupted: later calls raise
     at once;
   - ``serve(path, token)``, after a test cell passed: open a session on the grader's
     socket (channel 3).

   Kernel -> grader: replies and outputs. Outputs are the student's: kept within the
   output limits, shown, never scored (:func:`.contain.verdict_outputs` rebuilds test
   cells' outputs from verdicts). A reply's status says only whether the kernel's
   own run failed; a cell that did not reply within its limit is stopped.

3. The grader's Unix socket (``judge.sock``, :class:`.judge.Judge`). Every message has
   the wire format of :mod:`.inkernel` (a size prefix, a JSON header with an ``op``,
   raw numeric arrays; nothing pickled); the ``op`` names are constants there.

   ============= ============== ========================================================
   message       sent by        content
   ============= ============== ========================================================
   ``lifeline``  PID 1          first message of the sandbox's connection, made before the
                                kernel starts; the grader keeps one per kernel start
   sweep byte    grader         ``inkernel.SWEEP`` on the lifeline after each cell: PID 1
                                kills every process but the kernel. The lifeline closing
                                (the grader died) ends the sandbox
   ``hello``     kernel         first message of a session: the ``token`` the grader
                                wrote into its ``serve`` call, and ``observations``
                                (what student code changed). Any other first message,
                                or an unknown token, and the connection is closed
   ``name``      grader         the kernel's global ``name``
   ``getattr``,  grader         an attribute of an object the kernel handed out by
   ``setattr``                  reference
   ``call``      grader         call such an object with encoded ``args``/``kwargs``
   ``value``     kernel         the answer: an encoded value, and for ``call`` the
                                arguments as the call left them (``after``,
                                ``kwargs_after``)
   ``undefined`` kernel         the ``name`` asked for is not defined
   ``raise``     kernel         student code raised: its exception's ``type`` and
                                ``message``
   ``done``      grader         the session is over; ``serve`` returns
   ============= ============== ========================================================

   Values are nodes ``{"t": type, ...}``: ``none``, ``bool``, ``int``, ``float``,
   ``str``, ``array``, ``scalar`` (numeric or fixed-width string arrays, raw bytes),
   ``list``, ``tuple``, ``dict``; anything else stays where it is: ``ref`` (an object
   of the kernel's, by number), ``fn`` and ``obj`` (a trusted function, or an object
   of a trusted class with its attributes, sent by module and name to the kernel).

4. Files the kernel writes that the grader reads: its stdout/stderr log (through a
   descriptor PID 1 opened outside the sandbox; the grader reads only its end, a
   regular file, without following links) for the death message, the name of a
   function that hung, and the TA's ``run.json``.

What the grader trusts of the kernel: nothing. Every message is bounded before it is
read (:mod:`.inkernel`'s limits per message, :class:`.inkernel.Connection`'s per
session, ``Judge.HELLO_SECONDS`` and ``Judge.THREADS`` per connection, a deadline per
test) and decoded strictly: plain data only, arrays copied once each, strings cut to
``inkernel.TEXT_LIMIT``, type names to ``judge.NAME_LIMIT``; a ``raise`` becomes a
builtin exception or a fresh class, never the kernel's; a ``ref`` is a
:class:`.judge.Remote` whose every use goes back to the kernel. So no object of the
student's ever reaches a comparison in the grader. Observations, the log, and a
reply's status are evidence for the TA (:mod:`mlpcourse.grading.tamper`) or can only
fail a test; a test scores only if it passed in the kernel and again in the grader's
re-run with trusted code (:mod:`.judge`). Hidden fixtures and hidden checks never
enter the kernel: its hidden-checks module is a stand-in (:func:`.judge.stub_source`),
and a hidden check's failure message is built from an allow-list
(:func:`.judge.hidden_message`).
"""
