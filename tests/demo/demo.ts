// npm run demo: the operator's end-to-end demo on the local control plane.
// It needs the operator, which this tree does not have yet.
console.error(
  'npm run demo: the demo needs the operator, which is not built yet; see the open issues',
);
process.exit(1);
