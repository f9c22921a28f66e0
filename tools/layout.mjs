#!/usr/bin/env node
// Sagsflow BPMN layout: writes BPMN diagram interchange (bpmndi) into .bpmn files
// that were written without it. See tools/README.md.
//
//   node tools/layout.mjs FILE...            lay out FILEs in place
//   node tools/layout.mjs --all              lay out bpmn/**/*.bpmn
//   node tools/layout.mjs --check FILE...    exit 1 if a file's DI is missing or stale
//   node tools/layout.mjs --stdout FILE      print the laid-out XML instead of writing
//   node tools/layout.mjs --auto-layout FILE OUT
//                                            bpmn-auto-layout's own result, for comparison
//
// The semantic XML is never re-serialised: the tool reads the model with bpmn-moddle,
// computes the layout, removes any existing <bpmndi:BPMNDiagram> blocks from the file's
// text and inserts a freshly generated one before </bpmn:definitions>. Re-running
// always regenerates the DI from the semantic model (deterministic, so idempotent).

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BpmnModdle } from 'bpmn-moddle';

const NS = {
  bpmndi: 'http://www.omg.org/spec/BPMN/20100524/DI',
  dc: 'http://www.omg.org/spec/DD/20100524/DC',
  di: 'http://www.omg.org/spec/DD/20100524/DI',
};

// geometry (px)
const GAP_X = 70;            // horizontal gap between columns
const GAP_Y = 60;            // vertical gap between rows in a lane
const LANE_PAD_TOP = 40;
const LANE_PAD_BOTTOM = 50;  // room for external labels below events
const LANE_PAD_LEFT = 50;
const LANE_PAD_RIGHT = 50;
const LANE_MIN_HEIGHT = 160;
const POOL_LABEL = 30;       // vertical label strip of the pool
const SUB_PAD_X = 30;
const SUB_PAD_TOP = 40;      // room for the sub-process name
const SUB_PAD_BOTTOM = 40;
const BOUNDARY_EXTRA = 50;   // a row whose node has boundary events grows by this
const POOL_GAP = 60;

const is = (el, type) => el && el.$instanceOf && el.$instanceOf(type);

function sizeOf(el) {
  if (is(el, 'bpmn:SubProcess')) return null; // computed
  if (is(el, 'bpmn:Event')) return { width: 36, height: 36 };
  if (is(el, 'bpmn:Gateway')) return { width: 50, height: 50 };
  if (is(el, 'bpmn:Activity')) {
    const n = (el.name || '').length;
    return { width: n > 48 ? 140 : n > 28 ? 120 : 100, height: 80 };
  }
  if (is(el, 'bpmn:DataObjectReference')) return { width: 36, height: 50 };
  if (is(el, 'bpmn:DataStoreReference')) return { width: 50, height: 50 };
  return { width: 100, height: 80 };
}

const isFlowNode = (el) => is(el, 'bpmn:FlowNode');
const isBoundary = (el) => is(el, 'bpmn:BoundaryEvent');

// ---------------------------------------------------------------- layout of a container
//
// A container is a process (with lanes) or an expanded sub-process (one band).
// Returns { width, height, place(dx, dy) } where place() writes absolute bounds of all
// nodes (recursively) into `out.shapes` and waypoints into `out.edges`.

function layoutContainer(container, lanes, ctx) {
  const flowElements = container.flowElements || [];
  const nodes = flowElements.filter((e) => isFlowNode(e) && !isBoundary(e));
  const boundaries = flowElements.filter(isBoundary);
  const flows = flowElements.filter((e) => is(e, 'bpmn:SequenceFlow'));
  const order = new Map(nodes.map((n, i) => [n, i]));

  const hostOf = (el) => (isBoundary(el) ? el.attachedToRef : el);

  // graph over non-boundary nodes; a boundary event's outgoing flow counts as its host's
  const succ = new Map(nodes.map((n) => [n, []]));
  const pred = new Map(nodes.map((n) => [n, []]));
  for (const f of flows) {
    const s = hostOf(f.sourceRef);
    const t = f.targetRef;
    if (!succ.has(s) || !pred.has(t)) continue;
    succ.get(s).push({ node: t, flow: f, viaBoundary: isBoundary(f.sourceRef) });
    pred.get(t).push({ node: s, flow: f, viaBoundary: isBoundary(f.sourceRef) });
  }

  // DFS from start nodes for back edges and a stable visiting order
  const back = new Set();
  const state = new Map();
  const dfsOrder = [];
  const starts = nodes.filter((n) => pred.get(n).length === 0 || is(n, 'bpmn:StartEvent'));
  const visit = (root) => {
    const stack = [[root, 0]];
    state.set(root, 1);
    dfsOrder.push(root);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [n, i] = top;
      const out = succ.get(n);
      if (i >= out.length) { state.set(n, 2); stack.pop(); continue; }
      top[1] = i + 1;
      const { node: t, flow } = out[i];
      const st = state.get(t) || 0;
      if (st === 1) back.add(flow);
      else if (st === 0) { state.set(t, 1); dfsOrder.push(t); stack.push([t, 0]); }
    }
  };
  for (const s of starts) if (!state.get(s)) visit(s);
  for (const n of nodes) if (!state.get(n)) visit(n);
  const dfsIndex = new Map(dfsOrder.map((n, i) => [n, i]));

  // longest-path layering over forward edges
  const layer = new Map();
  const indeg = new Map(nodes.map((n) => [n, 0]));
  for (const n of nodes) for (const e of succ.get(n)) if (!back.has(e.flow)) indeg.set(e.node, indeg.get(e.node) + 1);
  const queue = nodes.filter((n) => indeg.get(n) === 0).sort((a, b) => dfsIndex.get(a) - dfsIndex.get(b));
  for (const n of queue) layer.set(n, 0);
  const topo = [];
  while (queue.length) {
    const n = queue.shift();
    topo.push(n);
    for (const e of succ.get(n)) {
      if (back.has(e.flow)) continue;
      layer.set(e.node, Math.max(layer.get(e.node) ?? 0, layer.get(n) + 1));
      indeg.set(e.node, indeg.get(e.node) - 1);
      if (indeg.get(e.node) === 0) queue.push(e.node);
    }
  }
  for (const n of nodes) if (!layer.has(n)) { layer.set(n, 0); topo.push(n); }

  // sizes (sub-processes recursively)
  const sub = new Map();
  const size = new Map();
  for (const n of nodes) {
    if (is(n, 'bpmn:SubProcess')) {
      const inner = layoutContainer(n, null, ctx);
      sub.set(n, inner);
      size.set(n, { width: inner.width, height: inner.height });
      ctx.expanded.add(n.id);
    } else {
      size.set(n, sizeOf(n));
    }
  }
  const boundariesOf = new Map();
  for (const b of boundaries) {
    const h = b.attachedToRef;
    if (!boundariesOf.has(h)) boundariesOf.set(h, []);
    boundariesOf.get(h).push(b);
  }

  // lanes: index per node
  const laneList = lanes && lanes.length ? lanes : [null];
  const laneOf = new Map();
  if (lanes && lanes.length) {
    lanes.forEach((lane, li) => {
      for (const ref of lane.flowNodeRef || []) if (order.has(ref)) laneOf.set(ref, li);
    });
  }
  for (const n of nodes) if (!laneOf.has(n)) laneOf.set(n, 0);

  // rows within lanes: nodes in topological order take their predecessor's row if free
  const row = new Map();
  const occupied = new Set(); // `${lane}:${layer}:${row}`
  const sortedNodes = [...topo].sort((a, b) => layer.get(a) - layer.get(b) || dfsIndex.get(a) - dfsIndex.get(b));
  for (const n of sortedNodes) {
    const li = laneOf.get(n);
    let want = 0;
    const preds = pred.get(n).filter((p) => !back.has(p.flow) && row.has(p.node) && laneOf.get(p.node) === li);
    if (preds.length) {
      preds.sort((a, b) => (a.viaBoundary - b.viaBoundary) || dfsIndex.get(a.node) - dfsIndex.get(b.node));
      want = row.get(preds[0].node) + (preds[0].viaBoundary ? 1 : 0);
    }
    let r = want;
    while (occupied.has(`${li}:${layer.get(n)}:${r}`)) r++;
    occupied.add(`${li}:${layer.get(n)}:${r}`);
    row.set(n, r);
  }

  // column widths
  const nCols = Math.max(0, ...nodes.map((n) => layer.get(n) + 1));
  const colW = Array(nCols).fill(0);
  for (const n of nodes) colW[layer.get(n)] = Math.max(colW[layer.get(n)], size.get(n).width);
  const colX = [];
  let x = 0;
  for (let c = 0; c < nCols; c++) { colX.push(x); x += colW[c] + GAP_X; }
  const contentW = nCols ? x - GAP_X : 0;

  // row heights per lane
  const laneRows = laneList.map(() => []); // [{height, extra}]
  for (const n of nodes) {
    const rs = laneRows[laneOf.get(n)];
    const r = row.get(n);
    while (rs.length <= r) rs.push({ h: 0, extra: 0 });
    rs[r].h = Math.max(rs[r].h, size.get(n).height);
    if (boundariesOf.has(n)) rs[r].extra = Math.max(rs[r].extra, BOUNDARY_EXTRA);
  }
  const isProcess = !!lanes;
  const padTop = isProcess ? LANE_PAD_TOP : SUB_PAD_TOP;
  const padBottom = isProcess ? LANE_PAD_BOTTOM : SUB_PAD_BOTTOM;
  const laneY = [];
  const laneH = [];
  const rowTop = laneRows.map(() => []);
  let y = 0;
  laneList.forEach((_, li) => {
    laneY.push(y);
    let ry = padTop;
    laneRows[li].forEach((r, ri) => {
      if (r.h === 0) r.h = 36; // empty row (can happen when rows are skipped)
      rowTop[li][ri] = ry;
      ry += r.h + r.extra + GAP_Y;
    });
    let h = laneRows[li].length ? ry - GAP_Y + padBottom : padTop + padBottom;
    if (isProcess) h = Math.max(h, LANE_MIN_HEIGHT);
    laneH.push(h);
    y += h;
  });
  const padX = isProcess ? LANE_PAD_LEFT : SUB_PAD_X;
  const padR = isProcess ? LANE_PAD_RIGHT : SUB_PAD_X;
  const width = contentW + padX + padR;
  const height = y;

  // relative bounds
  const rel = new Map();
  for (const n of nodes) {
    const li = laneOf.get(n);
    const r = row.get(n);
    const s = size.get(n);
    const c = layer.get(n);
    const rowH = laneRows[li][r].h;
    rel.set(n, {
      x: padX + colX[c] + (Math.min(colW[c], 140) - s.width) / 2 + (s.width > 140 ? (s.width - Math.min(colW[c], 140)) / 2 : 0),
      y: laneY[li] + rowTop[li][r] + (rowH - s.height) / 2,
      width: s.width,
      height: s.height,
    });
  }

  function place(dx, dy) {
    const abs = new Map();
    for (const n of nodes) {
      const b = rel.get(n);
      const a = { x: Math.round(dx + b.x), y: Math.round(dy + b.y), width: b.width, height: b.height };
      abs.set(n, a);
      ctx.shapes.push({ el: n, bounds: a });
      if (sub.has(n)) sub.get(n).place(a.x, a.y);
    }
    for (const [host, bs] of boundariesOf) {
      const h = abs.get(host);
      if (!h) continue;
      bs.forEach((b, i) => {
        const cx = h.x + h.width - 25 - i * 45;
        const a = { x: Math.round(cx - 18), y: Math.round(h.y + h.height - 18), width: 36, height: 36 };
        abs.set(b, a);
        const label = b.name ? textBox(b.name, 90) : null;
        ctx.shapes.push({ el: b, bounds: a, label: label && { x: a.x + 40, y: a.y + 24, ...label } });
      });
    }
    // horizontal channels in the gaps above and below each (lane, row)
    const chBelow = (n) => {
      const li = laneOf.get(n);
      const r = row.get(n);
      const rr = laneRows[li][r];
      const gap = r === laneRows[li].length - 1 ? padBottom : GAP_Y;
      return Math.round(dy + laneY[li] + rowTop[li][r] + rr.h + rr.extra + Math.min(gap / 2, 30));
    };
    const chAbove = (n) => {
      const li = laneOf.get(n);
      const r = row.get(n);
      const gap = r === 0 ? padTop : GAP_Y;
      return Math.round(dy + laneY[li] + rowTop[li][r] - gap / 2);
    };
    const obstacles = [...abs.entries()].map(([el, b]) => ({ el, b }));
    const env = { obstacles, chBelow, chAbove, hostOf, succ, pred, boundariesOf, routed: [] };
    for (const f of flows) {
      const s = abs.get(f.sourceRef);
      const t = abs.get(f.targetRef);
      if (!s || !t) continue;
      const waypoints = route(f, s, t, back.has(f), env);
      env.routed.push({ src: hostOf(f.sourceRef), tgt: f.targetRef, pts: waypoints });
      ctx.edges.push({ el: f, waypoints, label: f.name ? flowLabel(f.name, waypoints) : null });
    }
    return abs;
  }

  return { width, height, place, laneY, laneH };
}

const mid = (b) => ({ x: b.x + b.width / 2, y: b.y + b.height / 2 });

// rough size of a wrapped label (bpmn-js: 11px Arial, about 6px per character)
function textBox(text, maxWidth) {
  const chars = Math.max(1, Math.floor(maxWidth / 6));
  const words = String(text).split(/\s+/);
  let lines = 1, cur = 0, widest = 0;
  for (const w of words) {
    const len = w.length;
    if (cur && cur + 1 + len > chars) { lines++; widest = Math.max(widest, cur); cur = len; }
    else cur += (cur ? 1 : 0) + len;
  }
  widest = Math.max(widest, cur);
  return { width: Math.min(maxWidth, Math.ceil(widest * 6) + 4), height: lines * 14 };
}

// a sequence flow's name sits just above its last horizontal segment, near that segment's start
function flowLabel(name, pts) {
  const box = textBox(name, 90);
  for (let i = pts.length - 1; i >= 1; i--) {
    const p = pts[i - 1], q = pts[i];
    if (p.y === q.y && Math.abs(q.x - p.x) >= 30) {
      const x = q.x > p.x ? p.x + 6 : q.x + 6;
      return { x: Math.round(x), y: Math.round(p.y - box.height - 3), ...box };
    }
  }
  const p = pts[0], q = pts[1];
  return { x: Math.round(p.x + 6), y: Math.round((p.y + q.y) / 2 - box.height / 2), ...box };
}

// number of shapes (other than the edge's own ends) that a polyline runs through
function hits(points, obstacles, skip) {
  let n = 0;
  for (const { el, b } of obstacles) {
    if (skip.has(el)) continue;
    const x0 = b.x + 2, x1 = b.x + b.width - 2, y0 = b.y + 2, y1 = b.y + b.height - 2;
    for (let i = 1; i < points.length; i++) {
      const p = points[i - 1], q = points[i];
      const sx0 = Math.min(p.x, q.x), sx1 = Math.max(p.x, q.x);
      const sy0 = Math.min(p.y, q.y), sy1 = Math.max(p.y, q.y);
      if (sx1 >= x0 && sx0 <= x1 && sy1 >= y0 && sy0 <= y1) { n++; break; }
    }
  }
  return n;
}

// number of segments running along (collinear with) edges between other elements
function sharedRuns(points, routed, src, tgt) {
  let n = 0;
  for (const r of routed) {
    if (r.src === src || r.tgt === tgt) continue; // fan-out / merge may share a line
    for (let i = 1; i < points.length; i++) {
      const p = points[i - 1], q = points[i];
      for (let j = 1; j < r.pts.length; j++) {
        const a = r.pts[j - 1], b = r.pts[j];
        if (p.y === q.y && a.y === b.y && Math.abs(p.y - a.y) < 4) {
          const lo = Math.max(Math.min(p.x, q.x), Math.min(a.x, b.x));
          const hi = Math.min(Math.max(p.x, q.x), Math.max(a.x, b.x));
          if (hi - lo > 4) n++;
        } else if (p.x === q.x && a.x === b.x && Math.abs(p.x - a.x) < 4) {
          const lo = Math.max(Math.min(p.y, q.y), Math.min(a.y, b.y));
          const hi = Math.min(Math.max(p.y, q.y), Math.max(a.y, b.y));
          if (hi - lo > 4) n++;
        }
      }
    }
  }
  return n;
}

function length(points) {
  let l = 0;
  for (let i = 1; i < points.length; i++) l += Math.abs(points[i].x - points[i - 1].x) + Math.abs(points[i].y - points[i - 1].y);
  return l;
}

function route(flow, s, t, isBack, env) {
  const src = flow.sourceRef;
  const tgt = flow.targetRef;
  const host = env.hostOf(src);
  const sc = mid(s);
  const tc = mid(t);
  const P = (x, y) => ({ x: Math.round(x), y: Math.round(y) });
  const cands = [];
  const skip = new Set([src, tgt, host]);
  const half = GAP_X / 2;
  // where a loop enters the target from below/above: avoid its boundary events
  const tEntryX = env.boundariesOf.has(tgt) ? t.x + t.width / 3 : tc.x;
  const multiOut = is(src, 'bpmn:Gateway') && (env.succ.get(src) || []).length > 1;
  const multiIn = is(tgt, 'bpmn:Gateway') && (env.pred.get(tgt) || []).length > 1;

  if (isBoundary(src)) {
    const sy = s.y + s.height;
    const below = env.chBelow(host);
    if (t.x > sc.x + 10) {
      if (tc.y > sy) cands.push([P(sc.x, sy), P(sc.x, tc.y), P(t.x, tc.y)]);
      cands.push([P(sc.x, sy), P(sc.x, below), P(t.x - half, below), P(t.x - half, tc.y), P(t.x, tc.y)]);
      const tb = env.chAbove(tgt);
      if (tb > sy) cands.push([P(sc.x, sy), P(sc.x, tb), P(t.x - half, tb), P(t.x - half, tc.y), P(t.x, tc.y)]);
    }
    const ty = tc.y > below ? t.y : t.y + t.height;
    cands.push([P(sc.x, sy), P(sc.x, below), P(tEntryX, below), P(tEntryX, ty)]);
  } else if (isBack || t.x + t.width <= s.x) {
    for (const cy of [env.chBelow(src), env.chAbove(src), env.chBelow(tgt), env.chAbove(tgt)]) {
      const sy = cy > sc.y ? s.y + s.height : s.y;
      const ty = cy > tc.y ? t.y + t.height : t.y;
      cands.push([P(sc.x, sy), P(sc.x, cy), P(tEntryX, cy), P(tEntryX, ty)]);
      // leave to the right first, then around
      const sR = s.x + s.width;
      cands.push([P(sR, sc.y), P(sR + half, sc.y), P(sR + half, cy), P(tEntryX, cy), P(tEntryX, ty)]);
    }
  } else {
    const sR = s.x + s.width;
    if (Math.abs(sc.y - tc.y) < 1) cands.push([P(sR, sc.y), P(t.x, tc.y)]);
    if (multiOut && Math.abs(sc.y - tc.y) >= 1) {
      const sy = tc.y > sc.y ? s.y + s.height : s.y;
      cands.push([P(sc.x, sy), P(sc.x, tc.y), P(t.x, tc.y)]);
    }
    if (multiIn && Math.abs(sc.y - tc.y) >= 1) {
      const ty = sc.y > tc.y ? t.y + t.height : t.y;
      cands.push([P(sR, sc.y), P(tc.x, sc.y), P(tc.x, ty)]);
    }
    if (Math.abs(sc.y - tc.y) >= 1) {
      cands.push([P(sR, sc.y), P(t.x - half, sc.y), P(t.x - half, tc.y), P(t.x, tc.y)]);
      cands.push([P(sR, sc.y), P(sR + half, sc.y), P(sR + half, tc.y), P(t.x, tc.y)]);
    }
    for (const cy of [env.chBelow(src), env.chAbove(src), env.chBelow(tgt), env.chAbove(tgt)]) {
      cands.push([P(sR, sc.y), P(sR + half, sc.y), P(sR + half, cy), P(t.x - half, cy), P(t.x - half, tc.y), P(t.x, tc.y)]);
    }
  }
  let best = null;
  for (const c of cands) {
    const pts = c.filter((p, i) => i === 0 || p.x !== c[i - 1].x || p.y !== c[i - 1].y);
    const score = hits(pts, env.obstacles, skip) * 100000 + sharedRuns(pts, env.routed, host, tgt) * 5000
      + length(pts) + pts.length * 20;
    if (!best || score < best.score) best = { pts, score };
  }
  return best.pts;
}

// ---------------------------------------------------------------- whole diagram

async function computeLayout(xml) {
  const moddle = new BpmnModdle();
  const { rootElement: defs } = await moddle.fromXML(xml);
  const ctx = { shapes: [], edges: [], expanded: new Set() };
  const roots = defs.rootElements || [];
  const collab = roots.find((e) => is(e, 'bpmn:Collaboration'));
  const processes = roots.filter((e) => is(e, 'bpmn:Process'));
  let planeRef;

  const laneLeaves = (laneSet) => {
    const out = [];
    const walk = (ls, depth) => {
      for (const l of (ls && ls.lanes) || []) {
        if (l.childLaneSet && l.childLaneSet.lanes && l.childLaneSet.lanes.length) walk(l.childLaneSet, depth + 1);
        else out.push(l);
      }
    };
    walk(laneSet, 0);
    return out;
  };

  if (collab) {
    planeRef = collab.id;
    let py = 0;
    for (const p of collab.participants || []) {
      const proc = p.processRef;
      if (!proc) {
        ctx.shapes.push({ el: p, bounds: { x: 0, y: py, width: 600, height: 100 }, horizontal: true });
        py += 100 + POOL_GAP;
        continue;
      }
      const laneSet = (proc.laneSets || [])[0];
      const lanes = laneLeaves(laneSet);
      const lay = layoutContainer(proc, lanes.length ? lanes : [], ctx);
      const width = Math.max(lay.width, 600);
      const poolW = POOL_LABEL + width;
      ctx.shapes.push({ el: p, bounds: { x: 0, y: py, width: poolW, height: lay.height }, horizontal: true });
      lanes.forEach((lane, i) => {
        ctx.shapes.push({ el: lane, bounds: { x: POOL_LABEL, y: py + lay.laneY[i], width, height: lay.laneH[i] }, horizontal: true });
      });
      // parent lanes of nested lane sets span their children
      const parents = [];
      const walkParents = (ls) => {
        for (const l of (ls && ls.lanes) || []) {
          if (l.childLaneSet && l.childLaneSet.lanes && l.childLaneSet.lanes.length) { parents.push(l); walkParents(l.childLaneSet); }
        }
      };
      walkParents(laneSet);
      for (const pl of parents) {
        const kids = laneLeaves({ lanes: [pl] }).map((l) => lanes.indexOf(l));
        const y0 = Math.min(...kids.map((k) => lay.laneY[k]));
        const y1 = Math.max(...kids.map((k) => lay.laneY[k] + lay.laneH[k]));
        ctx.shapes.push({ el: pl, bounds: { x: POOL_LABEL, y: py + y0, width, height: y1 - y0 }, horizontal: true });
      }
      lay.place(POOL_LABEL, py);
      py += lay.height + POOL_GAP;
    }
  } else {
    const proc = processes[0];
    if (!proc) throw new Error('no bpmn:process in file');
    planeRef = proc.id;
    const lay = layoutContainer(proc, [], ctx);
    lay.place(0, 0);
  }
  return { defs, ctx, planeRef };
}

function esc(s) {
  return String(s).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}

function renderDi({ ctx, planeRef }, usedIds, indent, prefix) {
  const { bpmndi, dc, di } = prefix;
  const ids = new Set(usedIds);
  const diId = (base) => {
    let id = base;
    let i = 2;
    while (ids.has(id)) id = `${base}_${i++}`;
    ids.add(id);
    return id;
  };
  const I1 = indent, I2 = indent.repeat(2), I3 = indent.repeat(3), I4 = indent.repeat(4);
  const lines = [];
  lines.push(`${I1}<${bpmndi}:BPMNDiagram id="${diId('BPMNDiagram_1')}">`);
  lines.push(`${I2}<${bpmndi}:BPMNPlane id="${diId('BPMNPlane_1')}" bpmnElement="${esc(planeRef)}">`);
  const labelXml = (l) => l ? [`${I4}<${bpmndi}:BPMNLabel>`,
    `${I4}${indent}<${dc}:Bounds x="${l.x}" y="${l.y}" width="${l.width}" height="${l.height}" />`,
    `${I4}</${bpmndi}:BPMNLabel>`] : [];
  for (const { el, bounds, horizontal, label } of ctx.shapes) {
    let attrs = `id="${diId(el.id + '_di')}" bpmnElement="${esc(el.id)}"`;
    if (horizontal) attrs += ' isHorizontal="true"';
    if (ctx.expanded.has(el.id)) attrs += ' isExpanded="true"';
    lines.push(`${I3}<${bpmndi}:BPMNShape ${attrs}>`);
    lines.push(`${I4}<${dc}:Bounds x="${bounds.x}" y="${bounds.y}" width="${bounds.width}" height="${bounds.height}" />`);
    lines.push(...labelXml(label));
    lines.push(`${I3}</${bpmndi}:BPMNShape>`);
  }
  for (const { el, waypoints, label } of ctx.edges) {
    lines.push(`${I3}<${bpmndi}:BPMNEdge id="${diId(el.id + '_di')}" bpmnElement="${esc(el.id)}">`);
    for (const p of waypoints) lines.push(`${I4}<${di}:waypoint x="${p.x}" y="${p.y}" />`);
    lines.push(...labelXml(label));
    lines.push(`${I3}</${bpmndi}:BPMNEdge>`);
  }
  lines.push(`${I2}</${bpmndi}:BPMNPlane>`);
  lines.push(`${I1}</${bpmndi}:BPMNDiagram>`);
  return lines.join('\n');
}

// ---------------------------------------------------------------- text splicing

function findRoot(xml) {
  // first element start tag after prolog, comments, PIs and doctype
  const re = /<(?:\?[\s\S]*?\?>|!--[\s\S]*?-->|!DOCTYPE[^>]*>|([A-Za-z_][\w.-]*(?::[A-Za-z_][\w.-]*)?)((?:\s+[^\s=>/]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>)/g;
  let m;
  while ((m = re.exec(xml))) {
    if (m[1]) return { name: m[1], attrs: m[2], start: m.index, end: m.index + m[0].length };
  }
  throw new Error('no root element');
}

function nsPrefixes(attrs) {
  const map = new Map(); // uri -> prefix
  const byPrefix = new Map();
  const re = /\sxmlns:([\w.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;
  let m;
  while ((m = re.exec(attrs))) {
    const uri = m[2] ?? m[3];
    if (!map.has(uri)) map.set(uri, m[1]);
    byPrefix.set(m[1], uri);
  }
  return { map, byPrefix };
}

// Remove every BPMNDiagram element (whatever its prefix), with the whitespace before it.
function stripDi(xml, diPrefix) {
  if (!diPrefix) return xml;
  const p = diPrefix.replace(/[.-]/g, '\\$&');
  const re = new RegExp(`[ \\t]*(?:\\r?\\n)?[ \\t]*<${p}:BPMNDiagram\\b[\\s\\S]*?</${p}:BPMNDiagram\\s*>`, 'g');
  return xml.replace(re, '');
}

export async function layoutXml(xml) {
  const root = findRoot(xml);
  const { map, byPrefix } = nsPrefixes(root.attrs);
  const existingDi = map.get(NS.bpmndi);
  let text = stripDi(xml, existingDi);

  const layout = await computeLayout(text);

  // prefixes: reuse the file's own, else declare the conventional ones
  const prefix = {};
  const addDecl = [];
  for (const [key, uri] of Object.entries(NS)) {
    if (map.has(uri)) { prefix[key] = map.get(uri); continue; }
    let pfx = key;
    let i = 2;
    while (byPrefix.has(pfx)) pfx = `${key}${i++}`;
    prefix[key] = pfx;
    byPrefix.set(pfx, uri);
    addDecl.push(` xmlns:${pfx}="${uri}"`);
  }
  const root2 = findRoot(text);
  if (addDecl.length) {
    // insert declarations after the last existing xmlns declaration (or the tag name)
    const head = text.slice(root2.start, root2.end);
    const lastNs = [...head.matchAll(/\s+xmlns(?::[\w.-]+)?\s*=\s*(?:"[^"]*"|'[^']*')/g)].pop();
    const at = root2.start + (lastNs ? lastNs.index + lastNs[0].length : 1 + root2.name.length);
    const indentMatch = lastNs && /\n([ \t]*)\S/.exec(lastNs[0]);
    const sep = indentMatch ? `\n${indentMatch[1]}` : ' ';
    text = text.slice(0, at) + addDecl.map((d) => sep + d.trim()).join('') + text.slice(at);
  }

  const rootName = findRoot(text).name;
  const close = new RegExp(`</${rootName.replace(/[.-]/g, '\\$&')}\\s*>(?![\\s\\S]*</${rootName.replace(/[.-]/g, '\\$&')}\\s*>)`);
  const cm = close.exec(text);
  if (!cm) throw new Error(`closing </${rootName}> not found`);

  // indentation of the file's first child element
  const im = /\n([ \t]+)</.exec(text.slice(findRoot(text).end));
  const indent = im ? im[1] : '  ';
  const usedIds = new Set([...text.matchAll(/\sid\s*=\s*"([^"]*)"/g)].map((m) => m[1]));
  const di = renderDi(layout, usedIds, indent, prefix);

  let before = text.slice(0, cm.index).replace(/[ \t]*$/, '');
  if (!before.endsWith('\n')) before += '\n';
  return `${before}${di}\n${text.slice(cm.index)}`;
}

// ---------------------------------------------------------------- CLI

const __dirname = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(__dirname, '..');

function findBpmn(dir) {
  const out = [];
  if (!fs.existsSync(dir)) return out;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...findBpmn(p));
    else if (e.name.endsWith('.bpmn')) out.push(p);
  }
  return out.sort();
}

async function main(argv) {
  const flags = new Set(argv.filter((a) => a.startsWith('--')));
  let files = argv.filter((a) => !a.startsWith('--'));
  if (flags.has('--auto-layout')) {
    const { layoutProcess } = await import('bpmn-auto-layout');
    const [inp, out] = files;
    const res = await layoutProcess(fs.readFileSync(inp, 'utf8'));
    if (out) fs.writeFileSync(out, res); else process.stdout.write(res);
    return 0;
  }
  if (flags.has('--all')) files = files.concat(findBpmn(path.join(repoRoot, 'bpmn')));
  if (!files.length) {
    console.error('usage: node tools/layout.mjs [--check|--stdout] FILE... | --all');
    return 2;
  }
  let rc = 0;
  for (const f of files) {
    try {
      const xml = fs.readFileSync(f, 'utf8');
      const out = await layoutXml(xml);
      if (flags.has('--stdout')) process.stdout.write(out);
      else if (flags.has('--check')) {
        if (out !== xml) { console.error(`${f}: diagram interchange missing or stale (run npm run layout -- ${f})`); rc = 1; }
      } else if (out !== xml) {
        fs.writeFileSync(f, out);
        console.log(`${f}: laid out`);
      } else {
        console.log(`${f}: unchanged`);
      }
    } catch (err) {
      console.error(`${f}: ${err.message}`);
      rc = 1;
    }
  }
  return rc;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then((rc) => { process.exitCode = rc; });
}
