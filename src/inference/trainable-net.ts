/**
 * A crossbar net's weight layers as tfjs variables, with a differentiable forward pass, for
 * hardware-aware training and chip-in-the-loop fine-tuning (issue 27). The forward pass follows
 * the net's ops as forward-tf.ts does (dense, conv, max-pool, flatten, activations; a layer's
 * digital scale and shift after the crossbar, its bias row then unused) and can start at any weight
 * layer: fine-tuning feeds it the measured outputs of the layers already programmed. Each layer's
 * weights can be offset by a constant (the hardware noise of this batch): the gradient passes to
 * the weights unchanged (straight-through).
 */
import type * as TF from '@tensorflow/tfjs';
import { weightOps, type Act, type CrossbarNet, type WeightOp } from './crossbar-net.js';
import type { Tf } from './tf-backend.js';
import { steOps } from './bnn/train.js';

interface LayerVars {
  kernel: TF.Variable;
  bias: TF.Variable;
  scale?: TF.Variable;
  shift?: TF.Variable;
}

export interface TrainableOptions {
  /** First weight layer trained (and where forward() may start); earlier layers are not represented. */
  from: number;
  /** Train the weights (false: only a layer's digital scale and shift, e.g. a binary net whose weights stay on their grid). */
  weights?: boolean;
}

export class TrainableNet {
  readonly ops: WeightOp[];
  private readonly vars = new Map<number, LayerVars>();
  private readonly ste?: { quantA: (z: TF.Tensor) => TF.Tensor };

  constructor(
    private readonly tf: Tf,
    readonly net: CrossbarNet,
    readonly o: TrainableOptions,
  ) {
    this.ops = weightOps(net);
    this.ops.forEach((op, li) => {
      if (li < o.from) return;
      const kshape = op.op === 'dense' ? [op.fanIn, op.units] : [op.kernel![0], op.kernel![1], op.inChannels!, op.units];
      const train = o.weights !== false;
      this.vars.set(li, {
        kernel: tf.variable(tf.tensor(op.W.subarray(0, op.fanIn * op.units), kshape), train),
        bias: tf.variable(tf.tensor1d(op.W.subarray(op.fanIn * op.units)), train && !op.post),
        ...(op.post ? { scale: tf.variable(tf.tensor1d(op.post.scale)), shift: tf.variable(tf.tensor1d(op.post.shift)) } : {}),
      });
    });
    const quant = net.ops.find((x) => x.op !== 'maxpool' && x.op !== 'flatten' && (x.act === 'step' || String(x.act).startsWith('quant:')));
    if (quant && quant.op !== 'maxpool' && quant.op !== 'flatten') this.ste = steOps(tf, 1, quant.act === 'step' ? 1 : Number(String(quant.act).slice(6)));
  }

  /** The variables the optimizer moves. */
  trainable(): TF.Variable[] {
    return [...this.vars.values()].flatMap((v) => [v.kernel, v.bias, v.scale, v.shift].filter((x): x is TF.Variable => !!x && x.trainable));
  }

  /** Index in net.ops of weight layer `li`. */
  private opIndex(li: number): number {
    let k = -1;
    return this.net.ops.findIndex((x) => (x.op === 'dense' || x.op === 'conv') && ++k === li);
  }

  private activate(x: TF.Tensor, act: Act): TF.Tensor {
    const tf = this.tf;
    if (act === 'relu') return tf.relu(x);
    if (act === 'sigmoid') return tf.sigmoid(x);
    if (act === 'tanh') return tf.tanh(x);
    if (act === 'step' || act.startsWith('quant:')) return this.ste!.quantA(x);
    return x; // softmax and linear: the loss takes logits
  }

  /**
   * Logits of the net from the input of weight layer `start` (a batch, its shape the layer's input
   * shape). `delta[li]` (same layout as WeightOp.W) is added to layer li's weights for this pass.
   */
  forward(x: TF.Tensor, start = this.o.from, delta: (Float32Array | undefined)[] = []): TF.Tensor {
    const tf = this.tf;
    let h = x;
    let li = start;
    for (let i = this.opIndex(start); i < this.net.ops.length; i++) {
      const op = this.net.ops[i];
      if (op.op === 'flatten') h = tf.reshape(h, [h.shape[0], -1]);
      else if (op.op === 'maxpool') h = tf.maxPool(h as TF.Tensor4D, op.pool, op.strides, op.padding);
      else if (op.op === 'act') h = this.activate(h, op.act);
      else {
        const v = this.vars.get(li)!;
        const d = delta[li];
        const n = op.fanIn * op.units;
        const k = d ? tf.add(v.kernel, tf.tensor(d.subarray(0, n), v.kernel.shape)) : v.kernel;
        let y = op.op === 'dense' ? tf.matMul(h as TF.Tensor2D, k as TF.Tensor2D) : tf.conv2d(h as TF.Tensor4D, k as TF.Tensor4D, op.strides!, op.padding!);
        if (v.scale) y = tf.add(tf.mul(y, v.scale), v.shift!);
        else y = tf.add(y, d ? tf.add(v.bias, tf.tensor1d(d.subarray(n))) : v.bias);
        h = this.activate(y, op.act);
        li++;
      }
    }
    return h;
  }

  /** The current weights of layer li as a WeightOp (W with its bias row; post from the variables). */
  layer(li: number): WeightOp {
    const op = this.ops[li];
    const v = this.vars.get(li);
    if (!v) return op;
    const W = new Float32Array(op.W.length);
    W.set(v.kernel.dataSync() as Float32Array);
    W.set(v.bias.dataSync() as Float32Array, op.fanIn * op.units);
    return { ...op, W, ...(v.scale ? { post: { scale: Float32Array.from(v.scale.dataSync()), shift: Float32Array.from(v.shift!.dataSync()) } } : {}) };
  }

  /** The net with the trained layers' current weights (the others as they were). */
  snapshot(): CrossbarNet {
    let li = 0;
    return { ...this.net, ops: this.net.ops.map((op) => (op.op === 'dense' || op.op === 'conv' ? this.layer(li++) : op)) };
  }

  dispose(): void {
    for (const v of this.vars.values()) this.tf.dispose([v.kernel, v.bias, ...(v.scale ? [v.scale, v.shift!] : [])]);
    this.vars.clear();
  }
}
