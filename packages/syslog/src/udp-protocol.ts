/** Messages between the UDP output (main thread) and its sender thread. */
export type SenderRequest =
  | { readonly kind: 'open'; readonly address: string; readonly family: 4 | 6; readonly port: number }
  | { readonly kind: 'send'; readonly id: number; readonly buffer: Uint8Array; readonly ends: Uint32Array };

export type SenderReply =
  | { readonly kind: 'opened'; readonly error?: string }
  | {
      readonly kind: 'sent';
      readonly id: number;
      /** Datagrams of the batch handed to the OS, from the first; the rest still need sending. */
      readonly sent: number;
      /** The thread had failed before this batch and sent none of it. */
      readonly skipped?: boolean;
      /** The server's port answered "unreachable": nobody listens there. */
      readonly refused?: boolean;
      readonly error?: string;
    };
