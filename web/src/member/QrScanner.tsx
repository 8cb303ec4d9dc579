/** Reads a device token from a QR code with the camera (BarcodeDetector, where the browser has it). */
import { useEffect, useRef, useState } from 'react';

interface Detector { detect(source: HTMLVideoElement): Promise<{ rawValue: string }[]> }
declare const BarcodeDetector: { new (options: { formats: string[] }): Detector };

export default function QrScanner({ onCode, onCancel }: { onCode: (text: string) => void; onCancel: () => void }) {
  const video = useRef<HTMLVideoElement>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    let stream: MediaStream | undefined;
    let timer: ReturnType<typeof setInterval> | undefined;
    const detector = new BarcodeDetector({ formats: ['qr_code'] });
    navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' } }).then(async (s) => {
      stream = s;
      video.current!.srcObject = s;
      await video.current!.play();
      timer = setInterval(() => {
        void detector.detect(video.current!).then((codes) => { const t = codes.find((c) => c.rawValue.startsWith('fmd_')); if (t) onCode(t.rawValue); });
      }, 300);
    }, (err: Error) => setError(`No camera: ${err.message}. Paste the token instead.`));
    return () => { clearInterval(timer); stream?.getTracks().forEach((t) => t.stop()); };
  }, [onCode]);
  return (
    <div>
      {error ? <p role="alert" className="error">{error}</p> : <video ref={video} muted playsInline style={{ width: '100%', borderRadius: 8 }} aria-label="Camera preview" />}
      <button type="button" className="secondary" onClick={onCancel}>Cancel scanning</button>
    </div>
  );
}
