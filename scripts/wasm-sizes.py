#!/usr/bin/env python3
# Sizes of a wasm module's function bodies, summed by the crate in each function's name (read
# from the name section, so use the module before wasm-opt strips names), with the data
# section. Example, after `cargo leptos build --release`:
#   scripts/wasm-sizes.py target/front/wasm32-unknown-unknown/wasm-release/frontend.wasm
import sys, re, collections
data=open(sys.argv[1],'rb').read()
def leb(b,i):
    r=s=0
    while True:
        x=b[i]; i+=1; r|=(x&0x7f)<<s; s+=7
        if x<0x80: return r,i
i=8; nimports=0; bodies=[]; names={}
while i<len(data):
    sid=data[i]; i+=1; size,i=leb(data,i); end=i+size
    if sid==2:
        n,j=leb(data,i)
        for _ in range(n):
            l,j=leb(data,j); j+=l; l,j=leb(data,j); j+=l; kind=data[j]; j+=1
            if kind==0: nimports+=1; _,j=leb(data,j)
            elif kind==1: j+=1; f,j=leb(data,j); _,j=leb(data,j); 
            elif kind==2: f,j=leb(data,j); _,j=leb(data,j)
            elif kind==3: j+=2
    elif sid==10:
        n,j=leb(data,i)
        for _ in range(n):
            l,j2=leb(data,j); bodies.append(l+(j2-j)); j=j2+l
    elif sid==0:
        l,j=leb(data,i); nm=data[j:j+l].decode(); j+=l
        if nm=='name':
            while j<end:
                st=data[j]; j+=1; ss,j=leb(data,j); se=j+ss
                if st==1:
                    n,k=leb(data,j)
                    for _ in range(n):
                        idx,k=leb(data,k); l,k=leb(data,k); names[idx]=data[k:k+l].decode('utf8','replace'); k+=l
                j=se
    elif sid==11:
        print('data section', size)
    i=end
by=collections.Counter()
def crate(n):
    n=re.sub(r'^_?ZN?\d*','',n)
    m=re.search(r'([a-z_][a-z0-9_]*)(::|\.\.)',n)
    return m.group(1) if m else n[:30]
for k,b in enumerate(bodies):
    nm=names.get(nimports+k,'?')
    by[crate(nm)]+=b
tot=sum(bodies); print('code',tot)
for c,b in by.most_common(40): print(f'{b:9d} {c}')
