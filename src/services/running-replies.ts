// The replies this process is generating, by id, so that a request to stop one
// (made here, or relayed from another instance) reaches its generation.

export type RunningReplies = {
  /** Registers a generation until `finished` settles; `stop` ends it, keeping what was generated. */
  add(replyId: string, generation: { stop(): void; finished: Promise<unknown> }): void;
  /** Stops the reply if this process generates it; resolves once its row holds the outcome. False when it runs elsewhere (or not at all). */
  stop(replyId: string): Promise<boolean>;
};

export function createRunningReplies(): RunningReplies {
  const running = new Map<string, { stop(): void; finished: Promise<unknown> }>();
  return {
    add(replyId, generation) {
      running.set(replyId, generation);
      const remove = () => {
        if (running.get(replyId) === generation) running.delete(replyId);
      };
      generation.finished.then(remove, remove);
    },
    async stop(replyId) {
      const generation = running.get(replyId);
      if (!generation) return false;
      generation.stop();
      await generation.finished.catch(() => {});
      return true;
    },
  };
}
