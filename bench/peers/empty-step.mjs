// An empty module workflow: it loads nothing, saves nothing, returns nothing. Timing runs of it
// measures runSequential's own cost per step in a worker process.
export default function emptyStep() {}
