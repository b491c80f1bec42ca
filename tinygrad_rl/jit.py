"""Record a training step once, then replay it: ``tinygrad_rl.jit``.

    @jit
    def step(obs, actions, targets):
        loss = F.mse_loss(net(Tensor(obs))[np.arange(len(obs)), actions], targets)
        opt.zero_grad(); loss.backward(); opt.step()
        return loss

**Record.** The first call runs eagerly, exactly as without the jit, and records each op the step
calls (every primitive of ``tensor.py``, ``F.linear``, custom ops): which op; what each argument
was (the output of an earlier op, a parameter, data such as an array, a constant tensor or a
number, or a setting such as an axis or the structure of an index); what came out (shape, dtype,
whether it needs a gradient); and where ``backward()`` was called, on which tensor. From this the
jit builds a *program*: an output buffer for every op that has a replay kernel, and each backward
as a fixed list of steps in the order the eager backward takes them, every gradient summed in the
same order, a parameter's gradient written straight into its optimiser's gradient buffer.

**Replay.** Later calls run the step's Python again, and that is the guard. Each op it calls is
checked against the recording (the same op, the same settings, its inputs the same earlier
outputs and the same parameters, its data of the same shapes and dtypes, the same ``no_grad``
state) and computed by a kernel that evaluates the eager op's own NumPy expression into the op's
buffer: no closure, no graph. ``backward()`` on the recorded tensor runs the recorded steps.
What the step computes outside the ops (targets built with NumPy under ``no_grad``, masks, random
noise, the learning rate the optimiser reads) is recomputed by the step's own code on every call
and reaches the ops as data: nothing is frozen from the first call. Ops without a kernel run
their eager code, and their backward closure runs inside the recorded backward.

**Never silently wrong.** A call that leaves the recording (other shapes, data-dependent Python
that takes another branch, another parameter, ``no_grad`` switched, other parameters held fixed
with ``requires_grad = False`` at a ``backward()``) is caught at the first op or ``backward()``
that differs. The ops replayed so far are given their eager graph, the call
finishes eagerly, and its path becomes another program (up to ``max_programs``, sharing the
common prefix) that later calls can follow. The kernels evaluate the same expressions in the same
order as the eager ops, so parameters come out bit for bit as the eager step's (tested for every
loss of the library over many steps). A buffer is reused only while nothing else refers to it: a
tensor, an array or a view kept from an earlier call keeps its values.

**Why the Python runs on every call.** A replay that skipped it (as tinygrad's TinyJit and
``jax.jit`` do) would freeze whatever the Python computed on the first call: a TD target built with
NumPy, a mask, noise drawn from a generator, a number read from the data, an array rebound in a
closure. Nothing tells those apart from true constants without running the Python, so it runs,
and the jit saves what it can around it: no graph and no closures, no allocation, a backward
whose order and sums were worked out once, fused kernels (an ``nn.MLP``, ``F.mse_loss``,
``F.huber_loss`` each as one op), no gradient copy before the optimiser step. What remains is the
step's own Python and about a microsecond of checking per op.

A step that cannot be replayed runs eagerly, with a warning naming why: one that uses a graph made
outside the call, or returns a tensor that needs a gradient without calling ``backward()`` on it (a
loss given to ``gradcheck``). A step whose shapes change on every call (whole episodes of different
lengths) backs off to running eagerly for 4, 8, 16, ... calls between attempts.

What differs from eager, by design: tensors made inside a replayed call hold no graph
(``.parents`` is empty and, after the backward, non-leaf tensors have no ``.grad``: run without the
jit to inspect them), and a parameter's ``.grad`` is its window into the optimiser's gradient
buffer, rewritten every step (copy it to keep it). Inside ``detect_anomaly()`` every call runs
eagerly. ``tinygrad_rl.graph.program_summary(step)`` prints the recorded programs.
"""
from __future__ import annotations

import functools
import sys
import warnings

import numpy as np

from . import optim as _optim
from . import tensor as _tensor
from .jit_kernels import BLOCKS, KERNELS, REPLAYED_GRAPH
from .tensor import Tensor, _freed_graph, _next_creation_number, _unbroadcast

__all__ = ["jit", "Jit", "Program"]

_getrefcount = sys.getrefcount
_new_tensor = Tensor.__new__
_next_seq = _next_creation_number
_NEVER = float("inf")


def _tensors_in(value) -> list:
    """The Tensors in a step's return value (itself, or in tuples, lists and dict values)."""
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _tensors_in(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors_in(v)]
    return []


# ----------------------------------------------------------------------------- the recording


class Instruction:
    """One recorded op call: ``fn`` and what its arguments were, what it produced, and the replay
    ``kernel`` (None: the op runs its eager code on replay too)."""

    __slots__ = ("fn", "kernel", "grad_enabled", "shape", "dtype", "requires_grad", "parents", "name")

    def __init__(self, fn, kernel, out: Tensor, parents: tuple):
        self.fn, self.kernel = fn, kernel
        # The eager op's name ("linear", "+", "getitem"), or the function's for a fused block.
        self.name = fn.__qualname__ if fn in BLOCKS else (out.op or getattr(fn, "__name__", "op"))
        self.grad_enabled = _tensor._grad_enabled
        self.shape, self.dtype, self.requires_grad = out.shape, out.dtype, out.requires_grad
        # Where each of out.parents came from: ("slot", j), ("param", tensor), or None (no gradient flows).
        self.parents = parents


class BackwardPlan:
    """The backward of one recorded ``root.backward()``: the nodes on a path from a parameter to
    ``root``, newest first (the eager order), each with the destinations of its input gradients.

    A parameter the forward used but that was held fixed (``requires_grad`` off) when ``backward()``
    was called receives nothing, as in the eager backward: it is in ``frozen``, and the plan fits a
    later ``backward()`` only while exactly the same parameters are held fixed (an optimiser per
    loss term holds the other terms' parameters fixed during each term's backward).

    A slot (the output of an earlier op) receives its gradients in the eager order: the first is
    taken as it is, the second is added to it into a buffer of the plan's, the rest are added to
    that buffer (``np.add(..., out=)``: the same sums as eager ``grad + g``). A parameter whose
    ``.grad`` is None receives them in its optimiser's gradient slot, where a kernel may write the
    first directly when it is the only one.
    """

    def __init__(self, program: "Program", position: int, root: int, grad_shape, held: frozenset = frozenset()):
        self.position, self.root, self.grad_shape = position, root, grad_shape
        ops = program.ops
        needed = {root}
        for j in range(root, -1, -1):
            if j in needed:
                for ref in ops[j].parents:
                    if ref is not None and ref[0] == "slot":
                        needed.add(ref[1])
        self.nodes = sorted((j for j in needed if ops[j].requires_grad), reverse=True)
        received: dict = {}
        self.params: list[Tensor] = []
        self.frozen: list[Tensor] = []   # parameters on the path that were held fixed: no gradient
        param_index: dict = {}
        planned = []
        for j in self.nodes:
            routes = []
            for ref in ops[j].parents:
                if ref is None or (ref[0] == "slot" and not ops[ref[1]].requires_grad):
                    routes.append(None)
                    continue
                if ref[0] == "param" and id(ref[1]) in held:
                    if all(q is not ref[1] for q in self.frozen):
                        self.frozen.append(ref[1])
                    routes.append(None)
                    continue
                key = ref[1] if ref[0] == "slot" else ("param", id(ref[1]))
                count = received.get(key, 0)
                received[key] = count + 1
                if ref[0] == "slot":
                    routes.append((0, ref[1], count, ops[ref[1]].shape, ops[ref[1]].dtype))
                else:
                    if id(ref[1]) not in param_index:
                        param_index[id(ref[1])] = len(self.params)
                        self.params.append(ref[1])
                    routes.append((1, param_index[id(ref[1])], count, ref[1]))
            planned.append((j, ops[j], routes))
        self.steps = []
        for j, inst, routes in planned:
            # Parameters a kernel may write into directly: their only gradient, from this op.
            direct = tuple((i, r[1]) for i, r in enumerate(routes)
                           if r is not None and r[0] == 1 and received[("param", id(r[3]))] == 1)
            needs = tuple(r is not None for r in routes)
            self.steps.append((j, inst.kernel, inst.name, needs, direct, tuple(routes), (None,) * len(routes)))
        self.sums: dict = {}                         # slot -> the buffer its gradients are summed into
        self.slots: list = [None] * len(self.params)  # each parameter's gradient buffer
        self.slot_refs: list = [0] * len(self.params)
        self.dests: list = [None] * len(self.params)
        self.no_dests = (None,) * len(self.params)

    def covers(self) -> set:
        return set(self.nodes)

    def holds_the_same_fixed(self) -> bool:
        """Whether the parameters it sends gradients to all require one now, and those it found
        held fixed still are (a backward of other parameters needs another plan)."""
        for p in self.params:
            if not p.requires_grad:
                return False
        for p in self.frozen:
            if p.requires_grad:
                return False
        return True

    def _slot(self, i: int, p: Tensor) -> None:
        """Parameter i's gradient buffer: its optimiser's slot, or one of ours when no optimiser holds
        it or someone kept the slot's last gradient (which must keep its values)."""
        slot = _optim.gradient_slot(p)
        if slot is not None and _getrefcount(slot) == 3:  # the optimiser's list, `slot`, the argument
            self.slots[i], self.slot_refs[i] = slot, 3      # then: the optimiser's list, ours, the argument
        else:
            self.slots[i], self.slot_refs[i] = np.empty_like(p.data), 2

    def run(self, tracer: "_Tracer", root: Tensor, grad) -> None:
        """``root.backward(grad)``, as the eager backward computes it, through the recorded steps."""
        if grad is None:
            grad = np.ones_like(root.data)
        else:
            grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=root.data.dtype)
            if grad.shape != root.data.shape:
                raise ValueError(f"backward: grad shape {grad.shape} does not match tensor shape {root.shape}")
        root.grad = grad if root.grad is None else root.grad + grad
        dests, slots, refs = self.dests, self.slots, self.slot_refs
        for i, p in enumerate(self.params):
            if p.grad is None:   # eager: the first gradient is taken as it is, later ones added
                # A buffer someone else still refers to (a gradient kept from the last step) is left
                # to them: compare its references with the ones the plan holds. (The forward's
                # checks guarantee the parameters' shapes and dtypes, so a slot still fits.)
                if slots[i] is None or _getrefcount(slots[i]) > refs[i]:
                    self._slot(i, p)
                dests[i] = slots[i]
            else:                # eager: p.grad = p.grad + g, for every gradient
                dests[i] = None
        values, calls, grads, sums = tracer.values, tracer.calls, tracer.grads, self.sums
        grads[self.root] = grad
        tracer.depth += 1  # a custom op's backward may use Tensor ops: they are not part of the step
        try:
            for j, kernel, name, needs, direct, routes, targets in self.steps:
                g = grads[j]
                grads[j] = None
                node = values[j]
                if kernel is not None:
                    if direct:
                        targets = list(targets)
                        for i, pi in direct:
                            targets[i] = dests[pi]
                    parent_grads = kernel.backward(g, calls[j], node.data, needs, targets)
                else:
                    parent_grads = node._backward(g)
                node._backward = _freed_graph
                for r, pg in zip(routes, parent_grads):
                    if r is None or pg is None:
                        continue
                    if r[0] == 0:
                        _, t, count, shape, dtype = r
                        if pg.shape != shape:
                            pg = _unbroadcast(pg, shape, name)
                        if pg.dtype is not dtype and pg.dtype != dtype:
                            pg = pg.astype(dtype)
                        if count == 0:
                            grads[t] = pg
                        else:
                            total = sums.get(t)
                            if total is None:
                                total = sums[t] = np.empty(shape, dtype)
                            np.add(grads[t] if count == 1 else total, pg, out=total)
                            grads[t] = total
                    else:
                        _, pi, count, p = r
                        slot = dests[pi]
                        if pg is slot:      # the kernel wrote it there: the parameter's only gradient
                            p.grad = slot
                            continue
                        data = p.data
                        if pg.shape != data.shape:
                            pg = _unbroadcast(pg, data.shape, name)
                        if pg.dtype is not data.dtype and pg.dtype != data.dtype:
                            pg = pg.astype(data.dtype)
                        if slot is None:
                            p.grad = p.grad + pg
                        elif count == 0:
                            np.copyto(slot, pg)
                            p.grad = slot
                        else:
                            np.add(slot, pg, out=slot)
        finally:
            tracer.depth -= 1
            dests[:] = self.no_dests


class Program:
    """A recorded path through the step: its ops in call order, and its ``backward()`` calls in call
    order (each a :class:`BackwardPlan` made when the recording ends, from ``(position, root slot,
    grad shape)``; ``position`` is the number of ops called before it)."""

    def __init__(self, ops: list, backwards: list | None = None):
        self.ops = ops
        self.backwards: list = list(backwards or [])
        self.replayable = True
        self.reason = ""

    def compile(self) -> None:
        self.backwards = [event if isinstance(event, BackwardPlan) else BackwardPlan(self, *event)
                          for event in self.backwards]

    def summary(self) -> str:
        rows = [("#", "op", "kernel", "inputs", "shape", "dtype", "grad")]
        backward_at = {}
        for plan in self.backwards:
            backward_at.setdefault(plan.position, []).append(plan.root)
        for j, inst in enumerate(self.ops):
            for root in backward_at.pop(j, []):
                rows.append(("", f"backward() of #{root}", "", "", "", "", ""))
            inputs = " ".join(f"#{r[1]}" if r[0] == "slot" else "param" for r in inst.parents if r is not None)
            rows.append((str(j), inst.name, type(inst.kernel).__name__ if inst.kernel else "eager",
                         inputs, str(inst.shape), str(inst.dtype),
                         ("yes" if inst.requires_grad else "no") + ("" if inst.grad_enabled else " (no_grad)")))
        for roots in backward_at.values():
            rows.extend(("", f"backward() of #{root}", "", "", "", "", "") for root in roots)
        widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        kernels = sum(inst.kernel is not None for inst in self.ops)
        lines.append(f"{len(self.ops)} ops ({kernels} replayed by kernels into buffers, {len(self.ops) - kernels} "
                     f"by their eager code), {len(self.backwards)} backward call(s)")
        return "\n".join(lines)


# ----------------------------------------------------------------------------- the tracer


class _Tracer:
    """What ``tensor._tracer`` points at during a jitted call: it receives every op call and every
    ``backward()``, following a recorded program (replay) or appending to a new one (record)."""

    def __init__(self, owner: "Jit"):
        self.owner = owner
        self.depth = 0
        self.program: Program | None = None
        self.recording = False
        self.k = 0
        self.values: list = []
        self.calls: list = []
        self.slot_of: dict = {}
        self.grads: list = []
        self.backwards_run = 0
        self.next_backward = _NEVER   # the position of the next backward() the program expects

    # -- a call begins and ends

    def begin(self, program: Program | None) -> None:
        self.depth, self.k, self.backwards_run = 0, 0, 0
        self.values, self.calls, self.slot_of = [], [], {}
        if program is None:
            self.program, self.recording = Program([]), True
        else:
            self.program, self.recording = program, False
            self.next_backward = program.backwards[0].position if program.backwards else _NEVER
            if len(self.grads) < len(program.ops):
                self.grads.extend([None] * (len(program.ops) - len(self.grads)))

    def end(self, result) -> Program | None:
        """Finish the call; returns the program to remember (a new recording), if any."""
        program = self.program
        new = None
        if self.recording:
            program.compile()
            if program.replayable:
                covered = set().union(*(plan.covers() for plan in program.backwards))
                slots = [self.slot_of.get(id(t)) for t in _tensors_in(result)]
                if any(j is not None and program.ops[j].requires_grad and j not in covered for j in slots):
                    program.replayable = False
                    program.reason = ("it returns a tensor that needs a gradient and calls no backward() on it, "
                                      "so the tensor must keep its graph")
            new = program if program.replayable else None
        elif self.k != len(program.ops) or self.backwards_run != len(program.backwards):
            # A shorter path than recorded, or a backward not taken: give the tensors that still need
            # a gradient their eager graph, so they behave as eager ones after the call.
            self._materialize(self.k)
        # (A backward leaves no gradient behind in self.grads: each node takes its own and clears it.)
        self.values, self.calls, self.slot_of = [], [], {}
        return new

    def abort(self) -> None:
        self.values, self.calls, self.slot_of = [], [], {}
        self.grads = []
        self.program = None

    # -- ops

    def call(self, fn, args, kwargs):
        if self.depth:  # an op inside an op, or a backward closure: plain eager code
            return fn(*args, **kwargs)
        if not self.recording:
            k = self.k
            ops = self.program.ops
            if k < self.next_backward and k < len(ops):  # no backward() is due before this op
                inst = ops[k]
                kernel = inst.kernel
                if inst.fn is fn and inst.grad_enabled is _tensor._grad_enabled:
                    if kernel is not None:   # the common case, inline: check, compute, wrap
                        result = kernel.replay(args, kwargs, self.values)
                        if result is not None:
                            out = _new_tensor(Tensor)
                            out.data, out.grad, out._op, out._parents = result[0], None, kernel.op, ()
                            if inst.requires_grad:
                                out.requires_grad, out._backward, out._seq = True, REPLAYED_GRAPH, _next_seq()
                            else:
                                out.requires_grad, out._backward = False, None
                            self.calls.append((args, kwargs, result[1]))
                            self.values.append(out)
                            self.k = k + 1
                            return out
                    else:
                        out = self._run(inst, args, kwargs)
                        if out is not None:
                            return out
            out = self._replay_elsewhere(fn, args, kwargs)
            if out is not None:
                return out
        return self._record(fn, args, kwargs)

    def call_block(self, fn, args, kwargs):
        """A call of a function made of ops (``nn.Sequential.forward``): one fused op when its block
        kernel takes it, else its ops one by one (the function runs here, and they reach ``call``)."""
        if self.depth:
            return fn(*args, **kwargs)
        if not self.recording:
            k, ops = self.k, self.program.ops
            if not (k < len(ops) and ops[k].fn is fn) and \
                    not any(len(p.ops) > k and p.ops[k].fn is fn for p in self._alternatives()):
                return fn(*args, **kwargs)   # recorded op by op: its ops are checked one by one
        return self.call(fn, args, kwargs)

    def _replay_elsewhere(self, fn, args, kwargs):
        """This op is not the next one of the program followed: follow another that agrees so far,
        or leave the recording (None)."""
        program, k = self.program, self.k
        # Another recorded path that shares the ops and backward calls so far may continue with this op.
        for other in self._alternatives():
            if len(other.ops) > k and other.ops[k].fn is fn and self._next_backward_after(other, k):
                self._follow(other)
                out = self._run(other.ops[k], args, kwargs)
                if out is not None:
                    return out
                self._follow(program)
        self._diverge()
        return None

    def _alternatives(self):
        """Recorded programs that agree with this call so far: the same first ``k`` op objects (paths
        share a prefix by construction) and the same backward calls."""
        program, k, b = self.program, self.k, self.backwards_run
        for other in self.owner.programs:
            if other is program or len(other.ops) < k or (k and other.ops[k - 1] is not program.ops[k - 1]):
                continue
            if len(other.backwards) < b or any(x is not y for x, y in zip(other.backwards[:b], program.backwards[:b])):
                continue
            yield other

    def _follow(self, program: Program) -> None:
        self.program = program
        b = self.backwards_run
        self.next_backward = program.backwards[b].position if len(program.backwards) > b else _NEVER
        if len(self.grads) < len(program.ops):
            self.grads.extend([None] * (len(program.ops) - len(self.grads)))

    def _next_backward_after(self, program: Program, k: int) -> bool:
        """Whether ``program`` expects no backward() before its op ``k`` beyond those already run."""
        b = self.backwards_run
        return len(program.backwards) <= b or program.backwards[b].position > k

    def _run(self, inst: Instruction, args, kwargs):
        """Replay one recorded op on this call's arguments; None if they do not fit the recording."""
        if inst.grad_enabled is not _tensor._grad_enabled:
            return None
        values = self.values
        kernel = inst.kernel
        if kernel is not None:
            result = kernel.replay(args, kwargs, values)
            if result is None:
                return None
            data, saved = result
            out = _new_tensor(Tensor)
            out.data, out.grad, out._op, out._parents = data, None, kernel.op, ()
            if inst.requires_grad:
                out.requires_grad, out._backward, out._seq = True, REPLAYED_GRAPH, _next_creation_number()
            else:
                out.requires_grad, out._backward = False, None
            self.calls.append((args, kwargs, saved))
        else:
            self.depth += 1
            try:
                out = inst.fn(*args, **kwargs)
            finally:
                self.depth -= 1
            if not self._same_result(inst, out):
                self.values.append(out)   # a valid eager result: it is recorded as the new path
                self.calls.append((args, kwargs, None))
                self._diverge()
                self._append(inst.fn, args, kwargs, out)
                return out
            self.calls.append((args, kwargs, None))
        values.append(out)
        self.k += 1
        return out

    def _same_result(self, inst: Instruction, out) -> bool:
        if not isinstance(out, Tensor) or out.shape != inst.shape or out.dtype != inst.dtype \
                or out.requires_grad != inst.requires_grad or len(out._parents) != len(inst.parents):
            return False
        values = self.values
        for parent, ref in zip(out._parents, inst.parents):
            if ref is None:
                if parent.requires_grad:
                    return False
            elif ref[0] == "slot":
                if parent is not values[ref[1]]:
                    return False
            elif parent is not ref[1] or not parent.requires_grad:
                return False
        return True

    def _record(self, fn, args, kwargs):
        block = BLOCKS.get(fn)
        if block is not None and not block.accepts(args, kwargs):
            return fn(*args, **kwargs)   # a function of ops without a kernel: its ops are recorded one by one
        self.depth += 1
        try:
            out = fn(*args, **kwargs)
        finally:
            self.depth -= 1
        self.values.append(out)
        self.calls.append((args, kwargs, None))
        self._append(fn, args, kwargs, out)
        return out

    def _append(self, fn, args, kwargs, out) -> None:
        """Record the op call that produced ``out`` (already in ``values``) as the next instruction."""
        program = self.program
        index = len(self.values) - 1
        if not isinstance(out, Tensor):
            program.replayable, program.reason = False, f"{fn.__name__} returned a {type(out).__name__}"
            parents, kernel = (), None
            out = Tensor(np.zeros(0))
        else:
            kernel_type = KERNELS.get(fn) or BLOCKS.get(fn)
            kernel = kernel_type.make(args, kwargs, out, self.slot_of) if kernel_type is not None else None
            tensors = kernel.parent_tensors(args) if hasattr(kernel, "parent_tensors") else out._parents
            if fn in BLOCKS and kernel is None:
                program.replayable, program.reason = False, f"{fn.__qualname__} could not be recorded as one op"
            parents = tuple(None if p is None else self._source(p) for p in tensors)
            if any(ref == "foreign" for ref in parents):
                program.replayable = False
                program.reason = (f"{fn.__name__} used a tensor with a graph made outside the jitted call or by "
                                  "an op the jit does not record")
                parents = tuple(None if ref == "foreign" else ref for ref in parents)
        program.ops.append(Instruction(fn, kernel, out, parents))
        self.slot_of[id(out)] = index
        self.k = index + 1

    def _source(self, tensor: Tensor):
        j = self.slot_of.get(id(tensor))
        if j is not None:
            return ("slot", j)
        if not tensor.requires_grad:
            return None
        if tensor._backward is None and not tensor._parents:
            return ("param", tensor)
        return "foreign"

    # -- leaving the recording

    def _diverge(self) -> None:
        """The call left its program at op ``k``: give the replayed ops their eager graph and record
        the rest of the call as a new program that shares the first ``k`` ops."""
        k = self.k
        self._materialize(k)
        old = self.program
        self.program, self.recording = Program(old.ops[:k], old.backwards[:self.backwards_run]), True
        self.slot_of = {id(v): i for i, v in enumerate(self.values[:k])}
        self.owner.diverged += 1

    def _materialize(self, upto: int) -> None:
        """Give the replayed outputs among the first ``upto`` ops the graph eager code would have
        made, by running those ops eagerly on the same arguments (in order, so each finds its inputs
        already converted); values computed by kernels equal the eager ones bit for bit.

        Each output that needs a gradient is then numbered anew, in op order: a fused block's
        eager code makes its inner nodes now, after the later ops' outputs were numbered, and
        ``backward()`` orders nodes by creation number."""
        ops, values, calls = self.program.ops, self.values, self.calls
        self.depth += 1
        try:
            for i in range(min(upto, len(ops))):
                t = values[i]
                if not t.requires_grad:
                    continue
                if ops[i].kernel is not None and t._backward is REPLAYED_GRAPH:
                    args, kwargs, _ = calls[i]
                    eager = ops[i].fn(*args, **kwargs)
                    t.data, t._parents, t._backward = eager.data, eager._parents, eager._backward
                t._seq = _next_seq()
        finally:
            self.depth -= 1

    # -- backward

    def backward(self, root: Tensor, grad) -> None:
        if self.depth:
            return self._eager_backward(root, grad)
        position, b = self.k, self.backwards_run
        if not self.recording:
            program = self.program
            if not (len(program.backwards) > b and self._fits(program.backwards[b], root, grad)):
                program = next((other for other in self._alternatives() if len(other.backwards) > b
                                and self._fits(other.backwards[b], root, grad)), None)
            if program is not None:
                if program is not self.program:
                    self._follow(program)
                program.backwards[b].run(self, root, grad)
                self.backwards_run = b = b + 1
                self.next_backward = program.backwards[b].position if len(program.backwards) > b else _NEVER
                return None
            self._diverge()
        j = self.slot_of.get(id(root))
        self._eager_backward(root, grad)
        if j is None:
            self.program.replayable, self.program.reason = False, "backward() of a tensor made outside the recorded ops"
        else:
            self.program.backwards.append((position, j, None if grad is None else np.shape(grad),
                                           self._held_fixed(position)))
        self.backwards_run += 1
        return None

    def _held_fixed(self, position: int) -> frozenset:
        """ids of the parameters the first ``position`` ops used (so they required a gradient then)
        that are held fixed now, at a ``backward()``: they must receive no gradient from it."""
        return frozenset(id(ref[1]) for inst in self.program.ops[:position] for ref in inst.parents
                         if ref is not None and ref[0] == "param" and not ref[1].requires_grad)

    def _fits(self, plan: BackwardPlan, root: Tensor, grad) -> bool:
        return (plan.position == self.k and self.values[plan.root] is root and root.requires_grad
                and (plan.grad_shape is None) == (grad is None) and plan.holds_the_same_fixed())

    def _eager_backward(self, root: Tensor, grad) -> None:
        _tensor._tracer = None
        try:
            root.backward(grad)
        finally:
            _tensor._tracer = self


# ----------------------------------------------------------------------------- the public wrapper


class Jit:
    """A step function that records itself on its first call and replays later calls (module docs).

    ``enabled=False`` (or setting ``.enabled``) runs it eagerly. ``programs`` holds the recorded
    paths, newest use first; ``calls``, ``replayed`` and ``diverged`` count what happened.
    """

    def __init__(self, fn, enabled: bool = True, max_programs: int = 8):
        if not callable(fn):
            raise TypeError(f"jit: expected a function, got {fn!r}")
        if not isinstance(max_programs, int) or max_programs < 1:
            raise ValueError(f"jit: max_programs must be an int >= 1, got {max_programs!r}")
        functools.update_wrapper(self, fn)
        self.fn, self.enabled, self.max_programs = fn, bool(enabled), max_programs
        self.programs: list[Program] = []
        self.refused: list[str] = []     # why recordings could not be replayed (each reason once)
        self.calls = self.replayed = self.diverged = 0
        # Calls in a row that did not replay, and how many calls to run eagerly before trying again.
        self._misses, self._pause, self._paused = 0, 0, 0
        self._tracer = _Tracer(self)

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if not self.enabled or _tensor._tracer is not None or _tensor._anomaly is not None:
            # Off, inside another jitted call (whose tracer records these ops), or in anomaly mode.
            return self.fn(*args, **kwargs)
        if self._paused:
            self._paused -= 1
            return self.fn(*args, **kwargs)
        tracer = self._tracer
        tracer.begin(self.programs[0] if self.programs else None)
        replaying = not tracer.recording
        _tensor._tracer = tracer
        try:
            result = self.fn(*args, **kwargs)
        except BaseException:
            _tensor._tracer = None
            tracer.abort()
            raise
        _tensor._tracer = None
        followed = tracer.program
        new = tracer.end(result)
        if replaying and not tracer.recording:
            self.replayed += 1
            self._misses = self._pause = 0
            if self.programs[0] is not followed:
                self._used(followed)
            return result
        if new is not None:
            self._used(new)
        elif followed.reason and followed.reason not in self.refused:
            self.refused.append(followed.reason)
            warnings.warn(f"jit: a call of {self.__name__} cannot be replayed ({followed.reason}); such calls "
                          "run eagerly", RuntimeWarning, stacklevel=2)
        # A step whose shapes change on every call (whole episodes of different lengths), or that
        # cannot be replayed, would pay for a recording on every call: back off, running it eagerly
        # for 4, 8, 16, ... calls between attempts.
        self._misses += 1
        if self._misses >= 4:
            self._pause = min(2 * self._pause or 4, 1024)
            self._paused, self._misses = self._pause, 0
        return result

    def _used(self, program: Program) -> None:
        if program in self.programs:
            self.programs.remove(program)
        self.programs.insert(0, program)
        del self.programs[self.max_programs:]

    def summary(self) -> str:
        """The recorded programs as text: one table per path, ops in call order."""
        if not self.programs:
            return f"{self.__name__}: nothing recorded yet" + (
                f" (not replayable: {'; '.join(self.refused)})" if self.refused else "")
        parts = [f"{self.__name__}: {len(self.programs)} recorded path(s); {self.calls} calls, "
                 f"{self.replayed} replayed, {self.diverged} left their recording"]
        for i, program in enumerate(self.programs):
            parts.append(f"\npath {i}:\n{program.summary()}")
        return "\n".join(parts)


def jit(fn=None, *, enabled: bool = True, max_programs: int = 8):
    """Wrap a step function so its first call records the ops it runs and later calls replay them
    (see the module docstring). Use as ``@jit``, ``@jit(enabled=flag)`` or ``jit(fn)``."""
    if fn is None:
        return lambda f: Jit(f, enabled=enabled, max_programs=max_programs)
    return Jit(fn, enabled=enabled, max_programs=max_programs)
